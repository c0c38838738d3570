"""Memory per open stream: N streams held open through the gateway at once, each idle after its
first event, and the gateway's RSS before and while they are open.

    python contrib/bench/idle_streams.py            # 1,000 streams
    python contrib/bench/idle_streams.py --streams 2000 --upstream-client aiohttp

A stream here holds a client connection, its request, the vendor connection and the relay
between them, as a real agent's long answer does between two tokens. The vendor is a script of
its own (``--serve-upstream``): it sends one event per stream, then waits until told to finish.
Needs an open-file limit above 2 x streams + 100 (``ulimit -n``).
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
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


async def hold(port: int, streams: int, gateway_pid: int) -> tuple[int, int]:
    """Open ``streams`` streams, wait for each one's first event: the RSS (kB) before and while."""
    url = f"http://{bench.HOST}:{port}/v1/chat/completions"
    body = bench.body_for(True)
    headers = {"Authorization": f"Bearer {bench.CLIENT_TOKEN}", "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=300)) as session:
        opened = 0
        all_open = asyncio.Event()

        async def one() -> None:
            nonlocal opened
            async with session.post(url, data=body, headers=headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {await response.text()}")
                await response.content.readuntil(b"\n\n")
                opened += 1
                if opened == streams:
                    all_open.set()
                await response.read()

        before = bench.proc_status(gateway_pid)["VmRSS"]
        tasks = [asyncio.create_task(one()) for _ in range(streams)]
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
        async with session.post(f"http://{bench.HOST}:{bench_upstream_port}/release") as released:
            await released.read()
        await asyncio.gather(*tasks)
    return before, during


bench_upstream_port = 0


def main() -> None:
    global bench_upstream_port
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--upstream-client", choices=("pool", "aiohttp"), default="pool")
    parser.add_argument("--serve-upstream", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        serve_upstream(args.serve_upstream)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2 * args.streams + 100:
        raise SystemExit(f"the open-file limit is {soft}: raise it (ulimit -n) above {2 * args.streams + 100}")
    work = Path(tempfile.mkdtemp(prefix="sluicegate-idle-"))
    bench_upstream_port = bench.free_port()
    upstream = subprocess.Popen([sys.executable, __file__, "--serve-upstream", str(bench_upstream_port)])
    port = bench.free_port()
    config = work / "gateway.toml"
    config.write_text(bench.gateway_config(port, bench_upstream_port).replace(
        "[server]\n", f'[server]\nupstream_client = "{args.upstream_client}"\nmax_connections = {args.streams + 100}\n'
        "max_connections_per_client = 0\n", 1))
    log = work / "gateway.log"
    gateway = bench.spawn([*bench.sluicegate_command(), "serve", "--config", str(config), "--port", str(port)], log)
    try:
        bench.wait_ready(upstream, bench_upstream_port, work / "upstream.log")
        bench.wait_ready(gateway, port, log, path="/health")
        asyncio.run(hold(port, 50, gateway.pid))  # warm: first imports, first connections
        before, during = asyncio.run(hold(port, args.streams, gateway.pid))
        per_stream = (during - before) * 1024 / args.streams
        print(f"gateway RSS {before / 1024:.1f} MB idle, {during / 1024:.1f} MB with {args.streams} streams open "
              f"({args.upstream_client} client): {per_stream / 1024:.1f} KB a stream")
    finally:
        gateway.terminate()
        upstream.terminate()
        gateway.wait(30)
        upstream.wait(30)


if __name__ == "__main__":
    main()
