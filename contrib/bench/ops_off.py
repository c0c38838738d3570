"""A bench variant: the gateway with some always-on extensions switched off, to price them.

    python contrib/bench/bench.py --variant "ops-off=python contrib/bench/ops_off.py metrics,access_log"
"""

from __future__ import annotations

import sys
from pathlib import Path

from sluicegate.cli import main

if __name__ == "__main__":
    tables, args = sys.argv[1].split(","), sys.argv[2:]
    config = Path(args[args.index("--config") + 1])
    config.write_text(config.read_text() + "".join(f"\n[{table}]\nenabled = false\n" for table in tables))
    sys.exit(main(args))
