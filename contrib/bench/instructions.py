"""Instructions per request under callgrind: a deterministic A/B of gateway set-ups.

Wall-clock and CPU-time benchmarks on a shared VM move by tens of percent between runs; the
number of instructions a request costs does not. This runs each target under
``valgrind --tool=callgrind`` (about fifty times slower), sends it a fixed number of requests
from a plain aiohttp client outside valgrind, counts the instructions of exactly that window
(``callgrind_control -i on/off``) and prints them per request. Run from the repo root::

    python contrib/bench/instructions.py                       # governance and its baseline (gov-off)
    python contrib/bench/instructions.py gateway --requests 3000
    python contrib/bench/instructions.py bare gateway --stream --concurrency 1

Targets are bench.py's: ``bare`` (the bare aiohttp proxy), ``gateway`` ([auth] tokens) and
``governance`` (an issued key in a team with budgets, [pricing], the SQLite store), and ``gov-off`` (the
gateway with the same [pricing]: governance's baseline). Needs valgrind (``apt-get install valgrind``).
Time-driven background work (the key store's poll, the ledger's flush) is stretched to weigh per
request what it weighs at full speed (``SLOW_STORE``).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (the sibling script: its configs, key and body)

PYTHON = sys.executable

#: Under callgrind a target serves ~40 times fewer requests a second, so work that runs on a clock
#: (the key store's poll, the ledger's flush) would weigh ~40 times more per request than at full
#: speed. Its intervals are stretched to match: the poll every 20 s instead of 0.5, and the ledger
#: written only in full batches of 2,000 rows, the default ``batch_size`` (at full speed they fill
#: in under a second). ``--requests`` a multiple of 2,000 then counts exactly one row written per
#: request. The warm-up writes batches first, so the window holds no first-time work (SQLite
#: preparing the ledger's statements, SQLAlchemy compiling the rollups' upserts): counted in, it
#: was ~16 k instructions a request.
SLOW_STORE = "refresh_interval = 20.0\nflush_interval = 600.0\nbatch_size = 2000\n"
#: The config file's watch looks at the file four times a second: nothing a request costs at full
#: speed, but at callgrind's pace (~40 times slower) it would weigh per request. Off, as the
#: store's clocks are stretched.
NO_WATCH = "[server]\nwatch_config = false\n"
TARGETS = ("bare", "gateway", "gov-off", "governance")


async def send(port: int, body: bytes, count: int, concurrency: int) -> None:
    """``count`` chat requests, ``concurrency`` at a time; each must succeed."""
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {bench.CLIENT_TOKEN}", "Content-Type": "application/json"}
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        async def one() -> None:
            async with gate, session.post(f"http://{bench.HOST}:{port}/v1/chat/completions",
                                          data=body, headers=headers) as answer:
                await answer.read()
                if answer.status != 200:
                    raise RuntimeError(f"HTTP {answer.status}")

        await asyncio.gather(*(one() for _ in range(count)))


def wait_until_serving(port: int, body: bytes, log: Path, within: float = 300.0) -> None:
    deadline = time.monotonic() + within
    while True:
        try:
            asyncio.run(send(port, body, 5, 1))
            return
        except (OSError, aiohttp.ClientError, RuntimeError):
            if time.monotonic() > deadline:
                raise SystemExit(f"the target did not serve within {within:.0f} s; see {log}") from None
            time.sleep(1.0)


def collected(log: Path) -> int:
    """The window's instructions; with the cache simulated, callgrind's estimate of its cycles
    (a first-level miss ~10, a last-level one ~100 instructions' time)."""
    events: list[str] = []
    for line in log.read_text(errors="replace").splitlines():
        if "Events    :" in line:
            events = line.split("Events    :")[1].split()
        if "Collected :" in line:
            counts = dict(zip(events or ["Ir"], map(int, line.split("Collected :")[1].split()), strict=True))
            first = sum(counts.get(name, 0) for name in ("I1mr", "D1mr", "D1mw"))
            last = sum(counts.get(name, 0) for name in ("ILmr", "DLmr", "DLmw"))
            return counts["Ir"] + 10 * first + 100 * last
    raise SystemExit(f"no instruction count in {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", default=["gov-off", "governance"],
                        help="bare (bench.py's bare aiohttp proxy), gateway, gov-off (the gateway priced as "
                             "governance is), governance")
    parser.add_argument("--requests", type=int, default=4000, help="requests counted per target (default 4000)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=4000, help="requests before counting (default 4000)")
    parser.add_argument("--stream", action="store_true", help="streamed answers (20 events each) instead of JSON")
    parser.add_argument("--cache-sim", action="store_true",
                        help="simulate the caches and count estimated cycles instead of instructions (slower)")
    parser.add_argument("--keep", type=Path, help="copy each target's callgrind output here (for callgrind_annotate)")
    args = parser.parse_args()
    unknown = sorted(set(args.targets) - set(TARGETS))
    if unknown:
        parser.error(f"unknown target(s): {', '.join(unknown)}; choose from {', '.join(TARGETS)}")
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} is not installed (apt-get install valgrind)")
    work = Path(tempfile.mkdtemp(prefix="sluicegate-instructions-"))
    body = bench.body_for(args.stream)
    up_port = bench.free_port()
    upstream = subprocess.Popen([PYTHON, str(HERE / "upstream.py"), "--port", str(up_port), "--api-key",
                                 bench.UPSTREAM_KEY], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        results = {}
        for name in args.targets:
            port = bench.free_port()
            store = None
            if name == "governance":
                store = f"sqlite+aiosqlite:///{work / 'governance.db'}"
                subprocess.run([PYTHON, str(HERE / "governance_seed.py"), store, bench.CLIENT_TOKEN],
                               check=True, timeout=120)
            if name == "bare":
                command = [PYTHON, str(HERE / "bare_proxy.py"), "--port", str(port), "--upstream",
                           f"http://{bench.HOST}:{up_port}", "--api-key", bench.UPSTREAM_KEY]
            else:
                config = work / f"{name}.toml"
                text = bench.gateway_config(port, up_port, store, priced=name == "gov-off")
                text = text.replace("[server]\n", NO_WATCH, 1)
                if store is not None:
                    text = text.replace("[store]\n", "[store]\n" + SLOW_STORE, 1)
                config.write_text(text)
                command = [PYTHON, "-m", "sluicegate.cli", "serve", "--config", str(config), "--port", str(port)]
            log = work / f"{name}.log"
            with log.open("w") as sink:
                target = subprocess.Popen(
                    ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                     *(["--cache-sim=yes"] if args.cache_sim else []), f"--callgrind-out-file={work / name}.cg",
                     *command], stdout=sink, stderr=subprocess.STDOUT, cwd=work)
            try:
                wait_until_serving(port, body, log)
                asyncio.run(send(port, body, args.warmup, args.concurrency))
                subprocess.run(["callgrind_control", "-i", "on", str(target.pid)], check=True, capture_output=True)
                asyncio.run(send(port, body, args.requests, args.concurrency))
                subprocess.run(["callgrind_control", "-i", "off", str(target.pid)], check=True, capture_output=True)
            finally:
                target.terminate()
                target.wait(120)
            results[name] = collected(log) / args.requests
            if args.keep is not None:
                args.keep.mkdir(parents=True, exist_ok=True)
                for found in work.glob(f"{name}.cg*"):
                    shutil.copy(found, args.keep / found.name)
            unit = "cycles (estimated)" if args.cache_sim else "instructions"
            print(f"{name:12s} {results[name] / 1000:8.1f} k {unit} a request ({args.requests} requests)",
                  flush=True)
        base = next((name for name in ("bare", "gov-off", "gateway") if name in results), "gateway")
        for other in results:
            if other != base and base in results:
                extra = results[other] - results[base]
                print(f"{other} costs {extra / 1000:+.1f} k {unit} a request over {base} "
                      f"({extra / results[base]:+.1%})")
    finally:
        upstream.terminate()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
