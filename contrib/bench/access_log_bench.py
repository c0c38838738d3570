"""What the access log and pricing cost on the event loop, per finished request, in microseconds.

Run from the repo root: ``python contrib/bench/access_log_bench.py``. Each figure is the median
of 7 timing rounds. "request_finished" is everything the loop pays for one line (format + queue
put), with the writer thread draining to a temporary file meanwhile; the stdlib-logging figure is
the same line sent through ``logging.Logger.info`` and a ``QueueHandler`` instead, for comparison.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import queue
import statistics
import tempfile
import time
import timeit
from pathlib import Path

from sluicegate.extensions.access_log import AccessLogOptions, make_access_log
from sluicegate.extensions.log_format import json_formatter, text_formatter
from sluicegate.extensions.pricing import Price, Pricing
from sluicegate.telemetry import AttemptRecord, RequestRecord


def per_call_us(fn, number: int = 20000) -> float:
    rounds = timeit.repeat(fn, number=number, repeat=7)
    return statistics.median(rounds) / number * 1e6


def record() -> RequestRecord:
    rec = RequestRecord("req_0123456789abcdef01234567", "POST", "/v1/chat/completions", 10.0, time.time(),
                        route="/v1/chat/completions", api="openai", client="team-a", model="chat",
                        model_label="chat", stream=True, provider="openai", upstream_model="gpt-4o-mini",
                        target_label="openai/gpt-4o-mini", status=200, cache="miss", tokens_in=1200,
                        tokens_out=345, cost=0.000387, latency=0.41234, ttft=0.1234)
    rec.attempts = [AttemptRecord("openai", "gpt-4o-mini", "openai/gpt-4o-mini", 10.0, 0.4)]
    rec.extras["currency"] = "USD"
    return rec


class Services:
    def __init__(self) -> None:
        self.lasting: dict = {}
        self.config = None


async def loop_cost(path: Path, fmt: str) -> float:
    """µs the loop pays per request_finished while the writer thread drains to ``path``."""
    log = make_access_log(options=AccessLogOptions(destination=str(path), format=fmt), services=Services())
    await log.start()
    rec = record()
    figure = per_call_us(lambda: log.request_finished(rec))
    await log.aclose()
    return figure


async def writer_rate(path: Path, lines: int = 200_000) -> float:
    """Lines per second the writer thread writes to a file when a burst is queued at once."""
    log = make_access_log(options=AccessLogOptions(destination=str(path)), services=Services())
    await log.start()
    line = json_formatter()(record())
    put = log.writer.put
    started = time.perf_counter()
    for _ in range(lines):
        put(line)
    await log.aclose()  # returns once every queued line is written and the file closed
    elapsed = time.perf_counter() - started
    assert sum(1 for _ in path.open("rb")) == lines
    return lines / elapsed


def stdlib_logging_cost() -> float:
    logger = logging.Logger("sluicegate.access.bench")  # not in the global tree
    logger.propagate = False
    sink: queue.SimpleQueue = queue.SimpleQueue()
    logger.addHandler(logging.handlers.QueueHandler(sink))
    format_json = json_formatter()
    rec = record()

    def once() -> None:
        logger.info(format_json(rec).decode())

    figure = per_call_us(once)
    while not sink.empty():
        sink.get_nowait()
    return figure


def main() -> None:
    rec = record()
    format_json, format_text = json_formatter(), text_formatter()
    pricing = Pricing({("openai", "gpt-4o-mini"): Price(input=0.15, output=0.60)},
                      {"openai": Price(input=1, output=2)}, "USD")
    print(f"JSON line (format only)            {per_call_us(lambda: format_json(rec)):6.2f} µs")
    print(f"text line (format only)            {per_call_us(lambda: format_text(rec)):6.2f} µs")
    print(f"pricing.request_finished           {per_call_us(lambda: pricing.request_finished(rec)):6.2f} µs")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("json", "text"):
            cost = asyncio.run(loop_cost(Path(tmp) / f"{fmt}.log", fmt))
            print(f"access_log.request_finished ({fmt}) {cost:6.2f} µs")
        rate = asyncio.run(writer_rate(Path(tmp) / "burst.log"))
        print(f"writer thread, a queued burst      {rate:,.0f} lines/s to a file")
    print(f"same line via logging+QueueHandler {stdlib_logging_cost():6.2f} µs")


if __name__ == "__main__":
    main()
