"""Memory per open stream: N streams held open through the gateway at once, each idle after its
first event, and the gateway's RSS before and while they are open.

    python contrib/bench/idle_streams.py            # 1,000 streams
    python contrib/bench/idle_streams.py --streams 2000 --upstream-client aiohttp
    python contrib/bench/idle_streams.py --trace     # and where the memory is (tracemalloc)
    python contrib/bench/idle_streams.py --target bare    # bench.py's bare aiohttp proxy instead
    python contrib/bench/idle_streams.py --target server  # aiohttp's server alone (the vendor script)
    python contrib/bench/idle_streams.py --target lean    # lean_proxy.py: no aiohttp server at all

A stream here holds a client connection, its request, the vendor connection and the relay
between them, as a real agent's long answer does between two tokens. The vendor is a script of
its own (``--serve-upstream``): it sends one event per stream, then waits until told to finish.
The other targets are the floors the gateway is compared with: ``bare`` is the featureless
aiohttp pass-through proxy of bench.py (aiohttp's server and its client session), ``server`` the
vendor script itself answering the streams (aiohttp's low-level server and nothing else: what
the client side of a stream costs before any proxying), ``lean`` the prototype of lean_proxy.py
(a protocol of its own on httptools and the gateway's vendor client: what a proxy without
aiohttp's server objects holds). Needs an open-file limit above 2 x streams + 100 (``ulimit -n``). ``--trace`` runs the gateway
under tracemalloc (``--serve-traced``), takes a snapshot before and while the streams are open
and prints the lines that allocated what they hold, per stream (tracemalloc makes the RSS
figures larger: read them from a run without it).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench  # noqa: E402  (the sibling script: its configs, key and helpers)

FIRST = (b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
         b'[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}\n\n')
LAST = (b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":'
        b'[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')


def serve_upstream(port: int) -> None:
    """The vendor: every stream sends FIRST, waits for ``POST /release``, then ends."""
    from aiohttp import web

    round_ = {"released": asyncio.Event()}  # one per round of streams

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.path == "/release":
            round_["released"].set()
            round_["released"] = asyncio.Event()
            return web.Response(text="ok")
        released = round_["released"]
        await request.read()
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(FIRST)
        await released.wait()
        await response.write(LAST)
        await response.write_eof()
        return response

    async def main() -> None:
        server = web.Server(handle)
        loop = asyncio.get_running_loop()
        await loop.create_server(server, bench.HOST, port, backlog=4096)
        await asyncio.Event().wait()

    asyncio.run(main())


def serve_traced(snapshots: Path, argv: list[str]) -> None:
    """``sluicegate`` with ``argv`` under tracemalloc; each SIGUSR1 dumps a snapshot."""
    import tracemalloc

    from sluicegate.cli import main as sluicegate

    tracemalloc.start(8)
    taken = itertools.count()

    def snap(*_: object) -> None:
        tracemalloc.take_snapshot().dump(str(snapshots / f"{next(taken)}.part"))
        for done in snapshots.glob("*.part"):
            done.rename(done.with_suffix(".snap"))

    signal.signal(signal.SIGUSR1, snap)
    sys.argv = ["sluicegate", *argv]
    sluicegate()


def snapshot(pid: int, snapshots: Path, number: int) -> None:
    """Ask the traced gateway for snapshot ``number`` and wait until it is written."""
    os.kill(pid, signal.SIGUSR1)
    for _ in range(600):
        if (snapshots / f"{number}.snap").exists():
            return
        time.sleep(0.1)
    raise SystemExit("the traced gateway wrote no snapshot within 60 s")


def print_trace(snapshots: Path, streams: int) -> None:
    import tracemalloc

    before = tracemalloc.Snapshot.load(str(snapshots / "0.snap"))
    during = tracemalloc.Snapshot.load(str(snapshots / "1.snap"))
    lines = during.compare_to(before, "lineno")
    total = sum(line.size_diff for line in lines)
    print(f"traced: {total / streams / 1024:.1f} KB a stream; the lines that allocated it:")
    for line in lines[:25]:
        frame = line.traceback[0]
        where = frame.filename.split("site-packages/")[-1].split("/sluicegate/")[-1]
        print(f"  {line.size_diff / streams:7.0f} B {line.count_diff / streams:5.1f} objects  {where}:{frame.lineno}")


async def hold(port: int, streams: int, gateway_pid: int, snapshots: Path | None = None,
               waves: int = 1) -> tuple[int, int]:
    """Open ``streams`` streams, wait for each one's first event: the RSS (kB) before and while
    (and the tracemalloc snapshots 0 and 1 into ``snapshots``, when given)."""
    url = f"http://{bench.HOST}:{port}/v1/chat/completions"
    body = bench.body_for(True)
    headers = {"Authorization": f"Bearer {bench.CLIENT_TOKEN}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as session:
        opened = 0
        all_open = asyncio.Event()
        wave_open = asyncio.Event()  # the streams opened so far reached wave_target
        wave_target = streams

        async def one() -> None:
            nonlocal opened
            async with session.post(url, data=body, headers=headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {await response.text()}")
                await response.content.readuntil(b"\n\n")
                opened += 1
                if opened >= wave_target:
                    wave_open.set()
                if opened == streams:
                    all_open.set()
                await response.read()

        if snapshots is not None:
            await asyncio.to_thread(snapshot, gateway_pid, snapshots, 0)
        before = bench.proc_status(gateway_pid)["VmRSS"]
        tasks: list[asyncio.Task[None]] = []
        for wave in range(waves):
            # Each wave's streams open together; the next wave starts once they all have.
            size = streams * (wave + 1) // waves - streams * wave // waves
            tasks += [asyncio.create_task(one()) for _ in range(size)]
            wave_target = len(tasks)
            wave_open.clear()
            if opened < wave_target:
                await asyncio.wait([asyncio.create_task(wave_open.wait()), *tasks],
                                   return_when=asyncio.FIRST_COMPLETED, timeout=120)
        waiting = asyncio.create_task(all_open.wait())
        await asyncio.wait([waiting, *tasks], return_when=asyncio.FIRST_COMPLETED, timeout=120)
        if not all_open.is_set():
            failed = [task.exception() for task in tasks if task.done() and task.exception()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise SystemExit(f"only {opened} of {streams} streams opened: {failed[:1]}")
        await asyncio.sleep(1.0)  # let the gateway settle (nothing runs: every stream is idle)
        during = bench.proc_status(gateway_pid)["VmRSS"]
        if snapshots is not None:
            await asyncio.to_thread(snapshot, gateway_pid, snapshots, 1)
        async with session.post(f"http://{bench.HOST}:{bench_upstream_port}/release") as released:
            await released.read()
        await asyncio.gather(*tasks)
    return before, during


bench_upstream_port = 0
TARGETS = ("gateway", "bare", "server", "lean")


def main() -> None:
    global bench_upstream_port
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--upstream-client", choices=("pool", "aiohttp"), default="pool")
    parser.add_argument("--api-server", choices=("gateway", "aiohttp"), default="gateway",
                        help="the gateway's [server] api_server: its own connections, or aiohttp's server")
    parser.add_argument("--trace", action="store_true", help="also print where the memory is (tracemalloc)")
    parser.add_argument("--waves", type=int, default=1,
                        help="open the streams in this many waves, each once the one before is open (default 1: "
                             "all at once, so what the opening itself needs at its peak counts too)")
    parser.add_argument("--target", choices=TARGETS, default="gateway",
                        help="what holds the streams: the gateway, bench.py's bare proxy, aiohttp's server alone, lean_proxy.py")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-traced", type=Path, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    if args.serve_traced:
        serve_traced(args.serve_traced, rest)
        return
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.trace and args.target != "gateway":
        parser.error("--trace goes with the gateway target")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * args.streams + 100:
        raise SystemExit(f"the open-file limit is {soft}: raise it (ulimit -n) above {2 * args.streams + 100}")
    work = Path(tempfile.mkdtemp(prefix="sluicegate-idle-"))
    bench_upstream_port = bench.free_port()
    upstream = subprocess.Popen([sys.executable, __file__, "--serve-upstream", str(bench_upstream_port)])
    port = bench.free_port()
    config = work / "gateway.toml"
    config.write_text(bench.gateway_config(port, bench_upstream_port).replace(
        "[server]\n", f'[server]\nupstream_client = "{args.upstream_client}"\napi_server = "{args.api_server}"\n'
            f"max_connections = {args.streams + 100}\n"
        "max_connections_per_client = 0\n", 1))
    log = work / "gateway.log"
    snapshots = work / "snapshots" if args.trace else None
    serve = ["serve", "--config", str(config), "--port", str(port)]
    if snapshots is not None:
        snapshots.mkdir()
        command = [sys.executable, __file__, "--serve-traced", str(snapshots), *serve]
    elif args.target == "bare":
        command = [sys.executable, str(HERE / "bare_proxy.py"), "--port", str(port),
                   "--upstream", f"http://{bench.HOST}:{bench_upstream_port}"]
    elif args.target == "lean":
        upstream_url = f"http://{bench.HOST}:{bench_upstream_port}"
        command = [sys.executable, str(HERE / "lean_proxy.py"), str(port), upstream_url]
    else:
        command = [*bench.sluicegate_command(), *serve]
    gateway = bench.spawn(command, log) if args.target != "server" else None
    try:
        bench.wait_ready(upstream, bench_upstream_port, work / "upstream.log")
        if gateway is not None:
            bench.wait_ready(gateway, port, log, path="/health" if args.target == "gateway" else None)
        else:
            port = bench_upstream_port
        pid = gateway.pid if gateway is not None else upstream.pid
        asyncio.run(hold(port, 50, pid))  # warm: first imports, first connections
        before, during = asyncio.run(hold(port, args.streams, pid, snapshots, max(1, args.waves)))
        per_stream = (during - before) * 1024 / args.streams
        how = f" ({args.upstream_client} client, {args.api_server} server)" if args.target == "gateway" else ""
        waves = f", opened in {args.waves} waves" if args.waves > 1 else ""
        print(f"{args.target} RSS {before / 1024:.1f} MB idle, {during / 1024:.1f} MB with {args.streams} streams "
              f"open{how}{waves}: {per_stream / 1024:.1f} KB a stream")
        if snapshots is not None:
            print_trace(snapshots, args.streams)
    finally:
        for process in (gateway, upstream):
            if process is not None:
                process.terminate()
                process.wait(30)


if __name__ == "__main__":
    main()
