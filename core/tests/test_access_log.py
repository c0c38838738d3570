"""The ``access_log`` extension fed request records: the JSON and text lines, what they leave out
and escape, its options, and the writer thread (order, draining, sharing, rotation, no leaks)."""

from __future__ import annotations

import asyncio
import gc
import io
import logging
import os
import sys
import threading
from pathlib import Path

import orjson
import pytest
from fd_count import open_fds

from sluicegate.errors import ConfigError
from sluicegate.extensions.access_log import AccessLog, AccessLogOptions, destination_key, make_access_log
from sluicegate.extensions.log_format import json_formatter, text_formatter
from sluicegate.extensions.log_writer import LineWriter, WriterPool
from sluicegate.telemetry import AttemptRecord, RequestRecord

PROVIDERS = """
[providers.openai]
type = "mock"

[providers.deepseek]
type = "mock"
"""
WHEN = 1_700_000_000.123456  # 2023-11-14T22:13:20.123Z


def full_record() -> RequestRecord:
    rec = RequestRecord("req_abc123", "POST", "/v1/chat/completions", 50.0, WHEN, route="/v1/chat/completions",
                        api="openai", client="team-a", tenant="t-0123456789ab", model="chat",
                        model_label="chat", stream=True, provider="deepseek", upstream_model="deepseek-chat",
                        target_label="deepseek/deepseek-chat", status=200, cache="miss", tokens_in=1200,
                        tokens_out=345, tokens_cached=1000, cost=0.000704, latency=1.23456, ttft=0.4567)
    rec.attempts = [
        AttemptRecord("openai", "gpt-4o-mini", "openai/gpt-4o-mini", 0.0, 0.1, "server_error", 500),
        AttemptRecord("openai", "gpt-4o-mini", "openai/gpt-4o-mini", 0.2, 0.1, "server_error", 500),
        AttemptRecord("deepseek", "deepseek-chat", "deepseek/deepseek-chat", 0.4, 0.8),
    ]
    rec.extras["currency"] = "USD"
    return rec


def test_a_json_line_holds_every_field():
    line = json_formatter()(full_record())
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert orjson.loads(line) == {
        "time": "2023-11-14T22:13:20.123Z",
        "request_id": "req_abc123",
        "client": "team-a",
        "method": "POST",
        "path": "/v1/chat/completions",
        "route": "/v1/chat/completions",
        "status": 200,
        "model": "chat",
        "provider": "deepseek",
        "upstream_model": "deepseek-chat",
        "stream": True,
        "attempts": 3,
        "retries": 1,
        "fallback": True,
        "hedged": False,
        "cache": "miss",
        "limited": None,
        "error_code": None,
        "error_class": None,
        "tokens_in": 1200,
        "tokens_out": 345,
        "tokens_cached": 1000,
        "tokens_cache_written": None,
        "cost": 0.000704,
        "currency": "USD",
        "latency_ms": 1234.56,
        "ttft_ms": 456.7,  # to the microsecond
    }


def test_a_json_line_of_a_refused_request_has_nulls_not_gaps():
    rec = RequestRecord("req_x", "POST", "/v1/chat/completions", 0.0, WHEN, status=401,
                        error_code="invalid_api_key", error_class="auth", latency=0.0004)
    fields = orjson.loads(json_formatter()(rec))
    assert len(fields) == 27
    assert (fields["status"], fields["client"], fields["model"], fields["cost"]) == (401, None, None, None)
    assert (fields["error_code"], fields["error_class"], fields["attempts"]) == ("invalid_api_key", "auth", 0)
    assert fields["latency_ms"] == 0.4


def test_times_are_utc_with_milliseconds_across_seconds():
    stamp = json_formatter()
    times = [orjson.loads(stamp(RequestRecord("r", "GET", "/", 0.0, at)))["time"]
             for at in (WHEN, WHEN + 0.5, WHEN + 1.0, 0.0)]
    assert times == ["2023-11-14T22:13:20.123Z", "2023-11-14T22:13:20.623Z", "2023-11-14T22:13:21.123Z",
                     "1970-01-01T00:00:00.000Z"]


def test_the_token_of_a_client_is_never_a_field():
    rec = full_record()
    line = json_formatter()(rec) + text_formatter()(rec)
    assert b"team-a" in line
    assert rec.tenant.encode() not in line


def test_a_text_line_reads_well():
    line = text_formatter()(full_record()).decode()
    assert line == (
        "2023-11-14T22:13:20.123Z 200 POST /v1/chat/completions chat→deepseek/deepseek-chat 1234.6ms"
        " ttft=456.7ms tokens=1200/345 cost=0.000704 USD cache=miss attempts=3 fallback client=team-a"
        " req_abc123\n"
    )


def test_a_text_line_of_a_probe_and_of_an_error():
    probe = RequestRecord("req_h", "GET", "/health", 0.0, WHEN, route="/health", status=200, latency=0.0002)
    assert text_formatter()(probe) == b"2023-11-14T22:13:20.123Z 200 GET /health 0.2ms req_h\n"
    failed = RequestRecord("req_e", "POST", "/v1/chat/completions", 0.0, WHEN, model="nope", status=404,
                           error_code="model_not_found", error_class="not_found", latency=0.001, limited=None)
    assert text_formatter()(failed).decode() == (
        "2023-11-14T22:13:20.123Z 404 POST /v1/chat/completions nope→- 1.0ms"
        " error=model_not_found/not_found req_e\n"
    )


def test_client_strings_cannot_break_a_line_or_the_json():
    rec = RequestRecord("req_n", "POST", "/v1/x\ny \"z\"", 0.0, WHEN, model="evil\nmodel \x1b[31m\ud800",
                        status=200, latency=0.001)
    text = text_formatter()(rec)
    assert text.count(b"\n") == 1 and b"\x1b" not in text
    assert b'"/v1/x\\ny \\"z\\""' in text
    fields = orjson.loads(json_formatter()(rec))
    assert fields["path"] == '/v1/x\ny "z"'
    assert fields["model"].startswith("evil\nmodel \x1b[31m")


def test_long_client_strings_are_cut():
    rec = RequestRecord("req_l", "POST", "/v1/" + "p" * 1000, 0.0, WHEN, model="m" * 1000,
                        provider="openai", upstream_model="u" * 1000, status=404)
    fields = orjson.loads(json_formatter()(rec))
    assert fields["model"] == "m" * 128 + "…"
    assert fields["upstream_model"] == "u" * 128 + "…"
    assert len(fields["path"]) == 257
    assert len(text_formatter()(rec)) < 700


# -- the extension --------------------------------------------------------------------------------


def config(tmp_path: Path, table: str = "") -> str:
    return PROVIDERS + f'\n[access_log]\ndestination = "{tmp_path / "access.log"}"\n{table}'


async def closed_lines(assembly) -> list[bytes]:
    """Close the assembly (which writes every queued line) and read the log."""
    path = Path(assembly.extensions["access_log"].key)
    await assembly.aclose()
    return lines_of(path)


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines()


def probe(path: str, request_id: str = "req_1") -> RequestRecord:
    return RequestRecord(request_id, "GET", path, 0.0, WHEN, route=path, status=200)


async def test_probes_and_scrapes_are_not_logged_by_default(build, tmp_path):
    assembly = build(config(tmp_path))
    await assembly.start()
    log = assembly.extensions["access_log"]
    for path in ("/health", "/health/live", "/health/ready", "/metrics", "/v1/models", "/health/"):
        log.request_finished(probe(path, "req" + path.replace("/", "_")))
    assert [orjson.loads(line)["path"] for line in await closed_lines(assembly)] == ["/v1/models", "/health/"]


async def test_skip_paths_replace_the_default(build, tmp_path):
    assembly = build(config(tmp_path, 'skip_paths = ["/v1/models"]\nformat = "text"'))
    await assembly.start()
    log = assembly.extensions["access_log"]
    for path in ("/health", "/v1/models"):
        log.request_finished(probe(path))
    lines = await closed_lines(assembly)
    assert len(lines) == 1 and b" GET /health " in lines[0]


def test_the_log_is_on_without_a_table_and_off_with_enabled_false(build, capfd):
    on = build(PROVIDERS)
    assert on.extensions["access_log"].key == "stderr"
    off = build(PROVIDERS + "[access_log]\nenabled = false\n")
    assert "access_log" not in off.extensions


def test_options_are_checked_with_their_paths(build):
    with pytest.raises(ConfigError) as caught:
        build(PROVIDERS + '[access_log]\nformat = "jsn"\ndestination = " "\nlevel = 1\n')
    assert sorted(map(str, caught.value.problems)) == [
        'access_log.destination: must be "stderr", "stdout" or a file path',
        "access_log.format: must be \"json\" or \"text\", got 'jsn' (did you mean \"json\"?)",
        'access_log.level: unknown key',
    ]
    with pytest.raises(ConfigError) as caught:
        build(PROVIDERS + '[access_log]\nskip_paths = ["/health", "metrics"]\n')
    assert list(map(str, caught.value.problems)) == ["access_log: skip_paths must start with '/': 'metrics'"]


def test_a_file_that_cannot_be_opened_refuses_the_config(build, tmp_path):
    with pytest.raises(ConfigError) as caught:
        build(PROVIDERS + f'[access_log]\ndestination = "{tmp_path}/missing/dir/a.log"\n')
    [problem] = caught.value.problems
    assert problem.path == "access_log.destination"
    assert problem.message == f"cannot open {tmp_path}/missing/dir/a.log for appending: No such file or directory"


def test_relative_destinations_are_taken_from_the_config_files_directory(tmp_path):
    assert destination_key("logs/a.log", str(tmp_path / "gateway.toml")) == str(tmp_path / "logs/a.log")
    assert destination_key("~/a.log", None) == os.path.expanduser("~/a.log")
    assert destination_key("a.log", None) == os.path.join(os.getcwd(), "a.log")
    assert destination_key("stdout", "/etc/gateway.toml") == "stdout"


# -- the writer -----------------------------------------------------------------------------------


class Services:
    def __init__(self, lasting: dict | None = None) -> None:
        self.lasting = lasting if lasting is not None else {}
        self.config = None


async def make(tmp_path: Path, services: Services, name: str = "access.log", fmt: str = "json") -> AccessLog:
    log = make_access_log(options=AccessLogOptions(destination=str(tmp_path / name), format=fmt), services=services)
    await log.start()
    return log


async def on(writer: LineWriter) -> AccessLog:
    """An access log writing through ``writer`` (a destination of the test's making)."""
    writer.start()
    pool = WriterPool()
    pool.writers[writer.key] = writer
    log = AccessLog(pool, writer.key, json_formatter(), frozenset())
    await log.start()
    return log


def numbered(index: int) -> RequestRecord:
    return RequestRecord(f"req_{index}", "POST", "/v1/chat/completions", 0.0, WHEN, status=200)


async def test_every_line_is_written_in_order_before_close_returns(tmp_path):
    log = await make(tmp_path, Services())
    for index in range(5000):
        log.request_finished(numbered(index))
    await log.aclose()
    ids = [orjson.loads(line)["request_id"] for line in (tmp_path / "access.log").read_bytes().splitlines()]
    assert ids == [f"req_{index}" for index in range(5000)]
    assert open_fds(tmp_path / "access.log") == 0
    assert not log.writer._thread.is_alive()


class Stuck(io.RawIOBase):
    """A destination whose writes wait until released (a blocked terminal, a stalled disk)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.data = bytearray()
        self.buffer = self  # as sys.stderr: bytes go to its buffer

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.entered.set()
        self.release.wait(10)
        self.data += bytes(data)
        return len(data)


async def test_a_blocked_destination_never_blocks_the_request_path():
    stuck = Stuck()
    log = await on(LineWriter("stuck", None, stuck))
    log.request_finished(numbered(0))
    assert await asyncio.to_thread(stuck.entered.wait, 5)
    # The writer thread is stuck in write(); the loop still queues every line at once.
    for index in range(1, 1000):
        log.request_finished(numbered(index))
    stuck.release.set()
    await log.aclose()
    assert [orjson.loads(line)["request_id"] for line in bytes(stuck.data).splitlines()] == \
        [f"req_{index}" for index in range(1000)]


async def test_one_writer_per_destination_shared_across_reloads_and_closed_by_the_last(tmp_path):
    services = Services()
    path = tmp_path / "access.log"
    first = await make(tmp_path, services)
    second = await make(tmp_path, services, fmt="text")  # the reload: same file, another format
    assert first.writer is second.writer
    assert open_fds(path) == 1
    first.request_finished(numbered(1))
    second.request_finished(numbered(2))
    await first.aclose()  # the old assembly retires; the new one writes on
    assert open_fds(path) == 1
    second.request_finished(numbered(3))
    await second.aclose()
    assert open_fds(path) == 0
    lines = path.read_bytes().splitlines()
    assert len(lines) == 3
    assert orjson.loads(lines[0])["request_id"] == "req_1"
    assert lines[1].endswith(b" req_2") and lines[2].endswith(b" req_3")


async def test_a_reload_reopens_the_file_so_a_rotated_log_moves_on(tmp_path):
    services = Services()
    path = tmp_path / "access.log"
    old = await make(tmp_path, services)
    old.request_finished(numbered(1))
    path.rename(tmp_path / "access.log.1")  # logrotate moves it, then sends SIGHUP (a reload)
    new = await make(tmp_path, services)
    old.request_finished(numbered(2))  # a request of the old assembly finishing after the reload
    new.request_finished(numbered(3))
    await old.aclose()
    await new.aclose()
    rotated = [orjson.loads(x)["request_id"] for x in (tmp_path / "access.log.1").read_bytes().splitlines()]
    fresh = [orjson.loads(x)["request_id"] for x in path.read_bytes().splitlines()]
    # Lines queued before the reload stay in the rotated file; after it they go to the new one.
    assert rotated == ["req_1"]
    assert fresh == ["req_2", "req_3"]
    assert open_fds(path) == open_fds(tmp_path / "access.log.1") == 0


async def test_another_destination_gets_its_own_writer_and_the_old_one_closes(tmp_path):
    services = Services()
    old = await make(tmp_path, services, "a.log")
    new = await make(tmp_path, services, "b.log")
    assert old.writer is not new.writer
    old.request_finished(numbered(1))
    new.request_finished(numbered(2))
    await old.aclose()
    assert open_fds(tmp_path / "a.log") == 0 and open_fds(tmp_path / "b.log") == 1
    await new.aclose()
    assert (tmp_path / "a.log").read_bytes().count(b"req_1") == 1
    assert (tmp_path / "b.log").read_bytes().count(b"req_2") == 1
    assert services.lasting["access_log"].writers == {}


async def test_an_access_log_dropped_without_aclose_gives_its_writer_back(tmp_path):
    services = Services()
    log = await make(tmp_path, services)
    log.request_finished(numbered(7))
    writer = log.writer
    del log  # an assembly still retiring when the gateway closed: nobody will call aclose()
    gc.collect()
    assert not writer._thread.is_alive()
    assert open_fds(tmp_path / "access.log") == 0
    assert (tmp_path / "access.log").read_bytes().count(b"req_7") == 1
    assert services.lasting["access_log"].writers == {}


async def test_a_second_aclose_does_nothing(tmp_path):
    services = Services()
    first = await make(tmp_path, services)
    second = await make(tmp_path, services)
    await first.aclose()
    await first.aclose()  # must not release the writer the second one still uses
    assert open_fds(tmp_path / "access.log") == 1
    await second.aclose()
    assert open_fds(tmp_path / "access.log") == 0


class Broken(io.RawIOBase):
    buffer = property(lambda self: self)

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        raise OSError(28, "No space left on device")


async def test_write_failures_are_counted_and_warned_about_never_raised(caplog):
    log = await on(LineWriter("broken", None, Broken()))
    writer = log.writer
    with caplog.at_level(logging.WARNING, logger="sluicegate"):
        for index in range(3):
            log.request_finished(numbered(index))
        await log.aclose()
    assert writer.dropped == 3
    warnings = [r.getMessage() for r in caplog.records if "access log" in r.getMessage()]
    # One warning, not one per line.
    assert len(warnings) == 1 and "No space left on device" in warnings[0]


async def test_nothing_is_opened_before_start_and_earlier_lines_wait_for_it(tmp_path):
    services = Services()
    log = make_access_log(options=AccessLogOptions(destination=str(tmp_path / "a.log")), services=services)
    # The factory only checked the file: a config refused now leaves nothing open.
    assert open_fds(tmp_path / "a.log") == 0 and services.lasting["access_log"].writers == {}
    log.request_finished(numbered(1))  # served between the swap and start()
    await log.start()
    log.request_finished(numbered(2))
    await log.aclose()
    assert [orjson.loads(x)["request_id"] for x in (tmp_path / "a.log").read_bytes().splitlines()] == \
        ["req_1", "req_2"]
    log.request_finished(numbered(3))  # outlived its assembly: dropped, not written to a closed file
    assert log.dropped == 1


def test_lines_for_a_pipe_are_cut_at_line_ends_within_the_atomic_size():
    from sluicegate.extensions.log_writer import _pieces

    data = b"".join(b"x" * (10 + i % 50) + b"\n" for i in range(500))
    pieces = _pieces(data, 100)
    assert b"".join(pieces) == data
    assert all(piece.endswith(b"\n") and len(piece) <= 100 for piece in pieces)
    assert len(pieces) > 1
    # A single line longer than the limit stays whole rather than being split mid-line.
    assert _pieces(b"a" * 300 + b"\nb\n", 100) == [b"a" * 300 + b"\n", b"b\n"]
    assert _pieces(b"short\n", 100) == [b"short\n"]


async def test_a_queued_line_keeps_no_hold_on_the_line_object():
    # Lines gather in the writer's own buffer on the event loop: the caller's bytes object dies
    # with its request even while the thread is stuck (held in a queue, lines lived on and
    # kept the allocator's pools around them resident: ~2 MB at 64 connections).
    stuck = Stuck()
    writer = LineWriter("stuck", None, stuck)
    log = await on(writer)
    log.request_finished(numbered(0))
    assert await asyncio.to_thread(stuck.entered.wait, 5)
    line = b"".join([b'{"request_id":"held"}', b"\n"])  # a fresh object, referenced here only
    before = sys.getrefcount(line)
    writer.put(line)
    assert sys.getrefcount(line) == before
    stuck.release.set()
    await log.aclose()
    assert bytes(stuck.data).splitlines()[-1] == b'{"request_id":"held"}'
