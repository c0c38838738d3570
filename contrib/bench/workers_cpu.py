"""CPU a request with ``sluicegate serve --workers N`` against one worker: what several processes
cost beyond their share (the shared metrics files, the supervisor).

    python contrib/bench/workers_cpu.py [--workers 2] [--rounds 3] [--duration 8]

Each round runs the gateway with one worker, then with N, under wrk at 64 connections (JSON),
and adds up the CPU time of every process of the server (supervisor and workers) over the run.
Nothing is pinned: N workers need N cores. Needs wrk (``apt-get install wrk``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (the sibling script: its configs, key and helpers)


def processes(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            children = []
        todo += [int(child) for child in children]
    return found


def cpu_seconds(pid: int) -> float:
    total = 0
    for each in processes(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime, in clock ticks
    return total / 100.0


def wrk(port: int, script: Path, seconds: float) -> int:
    out = subprocess.run(["wrk", "-t1", "-c64", f"-d{round(seconds)}s", "-s", str(script),
                          f"http://{bench.HOST}:{port}/v1/chat/completions"],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.split("RESULT ", 1)[1].splitlines()[0])["requests"]


def measure(workers: int, up_port: int, work: Path, script: Path, duration: float) -> float:
    port = bench.free_port()
    config = work / "gateway.toml"
    config.write_text(bench.gateway_config(port, up_port))
    extra = ["--workers", str(workers)] if workers > 1 else []
    log = work / f"gateway-{workers}.log"
    server = bench.spawn([*bench.sluicegate_command(), "serve", "--config", str(config), "--port", str(port),
                          *extra], log)
    try:
        bench.wait_ready(server, port, log, path="/health")
        time.sleep(1.0)  # every worker up
        wrk(port, script, 3)  # warm
        before = cpu_seconds(server.pid)
        requests = wrk(port, script, duration)
        return (cpu_seconds(server.pid) - before) / requests * 1e6
    finally:
        bench.stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="sluicegate-workers-"))
    script = work / "load.lua"
    script.write_text(bench.WRK_SCRIPT.format(body=bench.body_for(False).decode(), token=bench.CLIENT_TOKEN))
    up_port = bench.free_port()
    upstream = bench.spawn([sys.executable, str(HERE / "upstream.py"), "--port", str(up_port), "--api-key",
                            bench.UPSTREAM_KEY], work / "upstream.log")
    try:
        bench.wait_ready(upstream, up_port, work / "upstream.log")
        one, many = [], []
        for round_ in range(args.rounds):
            one.append(measure(1, up_port, work, script, args.duration))
            many.append(measure(args.workers, up_port, work, script, args.duration))
            print(f"round {round_ + 1}: 1 worker {one[-1]:.1f} µs, {args.workers} workers {many[-1]:.1f} µs "
                  "of CPU a request", flush=True)
        a, b = statistics.median(one), statistics.median(many)
        print(f"median: 1 worker {a:.1f} µs, {args.workers} workers {b:.1f} µs a request ({b / a - 1:+.1%})")
    finally:
        bench.stop(upstream)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
