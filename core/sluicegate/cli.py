"""The ``sluicegate`` command: serve, check, plugins, and the commands plugins add (``register_commands``)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterable, Sequence
from typing import Any

from sluicegate import __version__
from sluicegate.builder import AssemblyFailed
from sluicegate.errors import ConfigError, PluginError
from sluicegate.gateway import Gateway, GatewaySource, assemble
from sluicegate.plugins import load_plugins
from sluicegate.registry import KINDS
from sluicegate.secrets import mask_url
from sluicegate.services import Services
from sluicegate.supervisor import STARTUP_FAILED, Supervisor

DEFAULT_CONFIG = "gateway.toml"


def main(argv: Sequence[str] | None = None, *, extra_plugins: Iterable[tuple[str, Any]] = ()) -> int:
    """``extra_plugins``: ``(name, plugin)`` pairs whose commands are added beside the installed
    plugins' (tests, embedding)."""
    try:
        parser = _parser(extra_plugins)
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except (ConfigError, PluginError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader left (`sluicegate check | head`); Python would print a traceback at exit
        # flushing stdout, so point it at /dev/null first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser(extra_plugins: Iterable[tuple[str, Any]] = ()) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sluicegate", description="A plugin-based LLM API gateway.")
    parser.add_argument("--version", action="version", version=f"sluicegate {__version__}")
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="run the gateway")
    serve.add_argument("--config", default=DEFAULT_CONFIG, help="config file (default ./gateway.toml)")
    serve.add_argument("--host", help="overrides [server] host")
    serve.add_argument("--port", type=int, help="overrides [server] port")
    serve.add_argument("--workers", type=int, help="processes sharing the port (overrides [server] workers)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(run=_serve)

    check = commands.add_parser("check", help="validate a config and print what it resolves to")
    check.add_argument("--config", default=DEFAULT_CONFIG)
    check.set_defaults(run=_check)

    plugins = commands.add_parser("plugins", help="list discovered plugins and what they register")
    plugins.set_defaults(run=_plugins)
    _plugin_commands(commands, extra_plugins)
    return parser


def _plugin_commands(commands: argparse._SubParsersAction, extra_plugins: Iterable[tuple[str, Any]]) -> None:
    """The commands plugins add (``register_commands``), loaded as ``sluicegate plugins`` loads them."""
    try:
        host = load_plugins(extra=extra_plugins)
    except PluginError as exc:
        # The core's commands still work: a config may disable the broken plugin, and serve,
        # check and plugins report the same error where it matters.
        print(f"warning: plugin commands are unavailable: {exc}", file=sys.stderr)
        return
    for impl in host.pm.hook.register_commands.get_hookimpls():
        info = host.info(impl.plugin_name)
        where = f"{impl.plugin_name!r} ({info.distribution})" if info is not None else repr(impl.plugin_name)
        try:
            impl.function(commands=commands)
        except Exception as exc:  # argparse.ArgumentError for a name taken, or the plugin's own
            raise PluginError(f"plugin {where} failed in register_commands: {exc.__class__.__name__}: {exc}") from exc


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper()),
        format="%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s",
        stream=sys.stderr,
    )


def _install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def _serve(args: argparse.Namespace) -> int:
    _setup_logging(args.log_level)
    source = GatewaySource(path=args.config)
    loaded = source.load()  # fail here, before any process starts, on a bad config
    workers = args.workers if args.workers is not None else loaded.config.server.workers
    if workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 1
    if workers == 1:
        return 0 if _run_worker(args.config, args.host, args.port, False, loaded, source) else 1
    return _supervise(args, workers)


def _run_worker(config: str, host, port, reuse_port: bool, loaded=None, source=None) -> bool:
    """Serve until stopped; False if it could not listen (the reason printed, no traceback)."""
    from sluicegate.server.runner import serve_forever

    _install_uvloop()
    # The source that read the file, so the file watch knows the bytes it was loaded from.
    gateway = Gateway(source or GatewaySource(path=config), loaded)
    try:
        asyncio.run(serve_forever(gateway, host, port, reuse_port=reuse_port))
    except OSError as exc:  # e.g. the port is taken: one line, not a traceback
        server = gateway.config.server
        address = f"{host or server.host}:{server.port if port is None else port}"
        print(f"error: cannot listen on {address}: {exc.strerror or exc}", file=sys.stderr)
        return False
    return True


def _worker_main(config: str, host, port, log_level: str) -> None:
    """A worker process of ``--workers N``; its exit code tells the supervisor how it ended."""
    # The supervisor starts workers with SIGHUP blocked and ignored (see Supervisor._start):
    # unblock it, still ignored until the event loop installs the reload handler.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})
    _setup_logging(log_level)
    try:
        # The config is read again here: a replacement worker serves the file as it is now.
        started = _run_worker(config, host, port, True)
    except (ConfigError, PluginError) as exc:  # logged with this worker's pid, no traceback
        logging.getLogger("sluicegate").error("cannot start: %s", exc)
        started = False
    sys.exit(0 if started else STARTUP_FAILED)


#: prometheus-client's multiprocess mode: every worker keeps its metric values in files of this
#: directory and a scrape of any worker adds up all of them. It must be in the environment before
#: a worker imports prometheus_client, hence set here, before the workers are spawned.
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
SUPERVISOR_PID_ENV = "SLUICEGATE_SUPERVISOR_PID"


def _supervise(args: argparse.Namespace, workers: int) -> int:
    """N processes bind the same port with SO_REUSEPORT; the kernel spreads connections.

    A worker that dies is replaced (sluicegate.supervisor); the exit code is 1 if any died
    abnormally during the run.
    """
    metrics_dir = os.environ.get(METRICS_DIR_ENV)
    own_dir = None
    if metrics_dir:
        os.makedirs(metrics_dir, exist_ok=True)  # the user's choice: used, never emptied or removed
    else:
        own_dir = metrics_dir = tempfile.mkdtemp(prefix="sluicegate-metrics-")
        os.environ[METRICS_DIR_ENV] = metrics_dir
    # Lets a worker's POST /admin/reload reach every worker (the supervisor forwards SIGHUP).
    os.environ[SUPERVISOR_PID_ENV] = str(os.getpid())
    context = multiprocessing.get_context("spawn")

    def spawn(index: int):
        return context.Process(
            target=_worker_main,
            args=(args.config, args.host, args.port, args.log_level),
            name=f"sluicegate-worker-{index}",
        )

    try:
        # Each exit as it happens, so a worker that dies leaves the live gauges at once.
        return Supervisor(spawn, workers, on_exit=lambda pid: _forget_worker_metrics(pid, metrics_dir)).run()
    finally:
        if own_dir is not None:
            shutil.rmtree(own_dir, ignore_errors=True)


def _forget_worker_metrics(pid: int, metrics_dir: str) -> None:
    """Drop an exited worker's live gauges (in flight, breaker states); its counters stay."""
    from prometheus_client.multiprocess import mark_process_dead

    try:
        mark_process_dead(pid, metrics_dir)
    except OSError as exc:
        logging.getLogger("sluicegate").warning("could not drop the metrics of worker %d: %s", pid, exc)


def _check(args: argparse.Namespace) -> int:
    loaded = GatewaySource(path=args.config).load()
    # Build everything once, as serve would: component factories check what the schema cannot
    # (price keys, log destinations, limits); nothing is started and no request is made.
    open_access = asyncio.run(_assemble_once(loaded))
    config, host = loaded.config, loaded.host
    print(f"{config.source}: OK")
    server = config.server
    print(f"\nserver: http://{server.host}:{server.port}  workers={server.workers}  max_body_mb={server.max_body_mb:g}")
    auth = config.features.get("auth")  # the default token authenticator's table
    tokens = [token for token in (*auth.tokens, *auth.clients.values()) if token] if auth else []
    print(f"auth: {len(tokens)} client token(s)" + (" -- OPEN: anyone can call this gateway" if open_access else ""))
    print("\nproviders:")  # at least one: the loader refuses a config without
    for provider_id, options in config.providers.items():
        key = options.api_key
        if key is None:
            key_state = "no key"
        elif key:
            key_state = "key set"
        else:
            key_state = f"UNCONFIGURED ({', '.join(key.missing) or 'api_key'} not set)"
        url = f"  {mask_url(options.base_url)}" if options.base_url else ""
        print(f"  {provider_id:<16} type={options.type:<10} {key_state}{url}")
    print("\nmodels:")
    if not config.models:
        print("  (none; use 'provider/model' names)")
    for alias, model in config.models.items():
        print(f"  {alias:<16} -> {', '.join(model.targets)}")
    print("\nplugins:")
    for plugin in host.plugins:
        print(f"  {plugin.name:<26} {plugin.distribution} {plugin.version}")
    if config.features:
        print("\nfeatures: " + ", ".join(sorted(config.features)))
    return 0


async def _assemble_once(loaded) -> bool:
    """Build (and close) what serve would; whether the gateway is open to anyone."""
    try:
        assembly = assemble(loaded, lambda config, registry: Services(http=None, config=config, registry=registry))
    except AssemblyFailed as exc:
        await exc.aclose()
        raise
    await assembly.aclose()
    return assembly.open_access


def _plugins(args: argparse.Namespace) -> int:
    host = load_plugins()
    rows = []
    for plugin in host.plugins:
        components = host.registry.by_plugin(plugin.name)
        registers = ", ".join(f"{c.kind}:{c.name}" for c in components)
        hooks = sorted(
            impl.function.__name__
            for caller in host.pm.get_hookcallers(host.pm.get_plugin(plugin.name)) or ()
            for impl in caller.get_hookimpls()
            if impl.plugin_name == plugin.name and impl.function.__name__ not in KINDS.values()
        )
        if hooks:
            registers = ", ".join(filter(None, [registers, *(f"hook:{h}" for h in hooks)]))
        rows.append((plugin.name, plugin.distribution, plugin.version, registers or "-"))
    widths = [max(len(row[i]) for row in [("NAME", "DISTRIBUTION", "VERSION", ""), *rows]) for i in range(3)]
    print(f"{'NAME':<{widths[0]}}  {'DISTRIBUTION':<{widths[1]}}  {'VERSION':<{widths[2]}}  REGISTERS")
    for name, dist, version, registers in rows:
        print(f"{name:<{widths[0]}}  {dist:<{widths[1]}}  {version:<{widths[2]}}  {registers}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
