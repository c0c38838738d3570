"""What scrubbing a vendor's error message costs: ``Scrubber`` over 10 KB texts.

Run from the repo root: ``python contrib/bench/scrub_bench.py``. The secrets are a realistic
assembly's (12 vendor keys, 8 client tokens, an admin token, two Redis URLs with passwords);
each figure is the median of 7 rounds. Building the scrubber happens once per assembly.
"""

from __future__ import annotations

import random
import statistics
import string
import timeit

from sluicegate.secrets import Scrubber

SIZE = 10 * 1024


def token(rng: random.Random, prefix: str, length: int) -> str:
    return prefix + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))


def main() -> None:
    rng = random.Random(11)
    secrets = [token(rng, "sk-proj-", 48) for _ in range(6)] + [token(rng, "gsk_", 52) for _ in range(6)]
    secrets += [token(rng, "gw-", 32) for _ in range(9)]
    secrets += [f"redis://default:{token(rng, '', 24)}@10.0.0.{n}:6379/0" for n in (1, 2)]
    prose = ("The server had an error while processing your request. Sorry about that! You can retry "
             "your request, or contact us through our help center if the error persists. ")
    texts = {
        "prose (no secret)": (prose * (SIZE // len(prose) + 1))[:SIZE],
        "prose + 3 partial echoes": (prose * (SIZE // len(prose) + 1))[:SIZE - 60] + secrets[2][5:25] + " " + secrets[7][:12] + " "
                                    + secrets[14][3:20],
        "base64-like blob": "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(SIZE)),
        "JSON error echoing the body": ('{"error":{"message":"invalid request","param":"messages[0].content",'
                                        '"body":"' + "x" * (SIZE - 100) + '"}}'),
    }
    build = timeit.repeat(lambda: Scrubber(secrets), number=20, repeat=7)
    print(f"build: {statistics.median(build) / 20 * 1e3:.2f} ms for {len(secrets)} secrets")
    scrubber = Scrubber(secrets)
    for name, text in texts.items():
        runs = timeit.repeat(lambda text=text: scrubber(text), number=50, repeat=7)
        print(f"{name:<30} {len(text) / 1024:5.1f} KB  {statistics.median(runs) / 50 * 1e3:7.3f} ms")


if __name__ == "__main__":
    main()
