"""Fallback load generator (used when ``wrk`` is not installed): aiohttp client, uvloop, own process.

Keeps ``--connections`` requests in flight on as many keep-alive connections for ``--duration``
seconds, reads every response to its end (streams included), and prints one JSON line:
``{"requests", "duration_us", "errors", "status_errors", "p50", "p90", "p99", "mean"}`` with
latencies in microseconds -- the same shape bench.py gets from wrk.

It is Python, so at high concurrency it costs a good share of a core itself; wrk is preferred.

    python contrib/bench/loadgen.py --url http://127.0.0.1:8899/v1/chat/completions \
        --body-file body.json --header "Authorization: Bearer t" --connections 64 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


def percentile(ordered: list[float], pct: float) -> float:
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


async def run(url: str, body: bytes, headers: dict[str, str], connections: int, duration: float) -> dict:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    latencies: list[float] = []
    errors = 0
    status_errors = 0
    async with aiohttp.ClientSession(connector=connector, trust_env=False, auto_decompress=False) as session:
        start = time.perf_counter()
        deadline = start + duration

        async def worker() -> None:
            nonlocal errors, status_errors
            clock = time.perf_counter
            while clock() < deadline:
                began = clock()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        if response.status >= 400:
                            status_errors += 1
                except (TimeoutError, aiohttp.ClientError, OSError):
                    errors += 1
                    continue
                latencies.append(clock() - began)

        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - start
    latencies.sort()
    us = 1e6
    return {
        "requests": len(latencies),
        "duration_us": int(elapsed * us),
        "errors": errors,
        "status_errors": status_errors,
        "p50": percentile(latencies, 50) * us,
        "p90": percentile(latencies, 90) * us,
        "p99": percentile(latencies, 99) * us,
        "mean": (sum(latencies) / len(latencies) * us) if latencies else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--header", action="append", default=[], help="'Name: value', repeatable")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    with open(args.body_file, "rb") as fh:
        body = fh.read()
    headers = dict(h.split(": ", 1) for h in args.header)
    coro = run(args.url, body, headers, args.connections, args.duration)
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(coro)
    else:
        result = uvloop.run(coro)
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
