"""Assembly: build providers, router and request chain from a config, and swap them atomically."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

from sluicegate import settle
from sluicegate.auth import Authenticate
from sluicegate.auth import chain as auth_chain
from sluicegate.builder import AssemblyFailed, Builder, Closer, close_all
from sluicegate.config.loader import LoadedConfig, load_config, load_config_text
from sluicegate.config.schema import GatewayConfig
from sluicegate.contracts import Authenticator, BreakerBoard
from sluicegate.errors import ConfigError, ConfigProblem, GatewayError, PluginError
from sluicegate.exchange import Handler
from sluicegate.features.response_store import NullResponseStore, ResponseStore, build_response_store
from sluicegate.pipeline import compose
from sluicegate.plugins import PluginHost
from sluicegate.provider import Provider
from sluicegate.registry import AUTHENTICATOR, BREAKER_POLICY, EXTENSION, MIDDLEWARE, PROVIDER
from sluicegate.resilience.balance import StatsBoard
from sluicegate.resilience.router import ResilientRouter
from sluicegate.routing import Router
from sluicegate.secrets import config_secrets, scrub
from sluicegate.services import Services
from sluicegate.telemetry import Telemetry, known_target_labels
from sluicegate.transport import Transport

log = logging.getLogger("sluicegate")


class Assembly:
    """Everything built from one config. Immutable once built; a reload builds a new one."""

    def __init__(
        self,
        config: GatewayConfig,
        host: PluginHost,
        providers: dict[str, Provider],
        chain: Handler,
        middleware_names: list[str],
        *,
        breakers: BreakerBoard | None = None,
        stats: StatsBoard | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] | None = None,
        closers: list[Closer] | None = None,
        extensions: dict[str, Any] | None = None,
        telemetry: Telemetry | None = None,
        responses: ResponseStore | None = None,
        authenticators: dict[str, Authenticator] | None = None,
    ) -> None:
        self._closers = closers or []
        self.config = config
        self.host = host
        self.providers = providers
        self.breakers = breakers
        self.stats = stats if stats is not None else StatsBoard()
        self.router = Router(providers, config.models, self.stats, rng)
        self.chain = chain
        self.middleware_names = middleware_names
        self.max_body = int(config.server.max_body_mb * 1024 * 1024)
        self.body_idle_timeout = config.server.body_idle_timeout
        self.alias_names = frozenset(config.models)
        # The clock the router's stats run on, for reading their windows.
        self.router_clock = clock or time.monotonic
        # Ask vendors for a stream's usage when someone reads it (docs/guides/operations.md, "Usage and cost").
        self.stream_usage = config.server.stream_usage
        self.extensions = extensions or {}
        self.telemetry = telemetry if telemetry is not None else Telemetry()
        # Stored responses ([responses]) for the Responses API, resolved once here; closed
        # with the assembly (its entries outlive it: in Redis, or on the memory store's shelf).
        self.responses: ResponseStore = responses if responses is not None else NullResponseStore()
        # Name -> authenticator, in chain order; ``authenticate(headers)`` asks them in turn
        # (docs/guides/security.md, "Authenticators"). None of them on: an open gateway.
        self.authenticators = authenticators or {}
        self.authenticate: Authenticate = auth_chain(list(self.authenticators.values()))
        self.open_access = not self.authenticators

    async def start(self) -> None:
        """Start the extensions' own work once this assembly serves."""
        for name, extension in self.extensions.items():
            start = getattr(extension, "start", None)
            if callable(start):
                try:
                    await start()
                except Exception:  # an extension that cannot start must not stop the gateway
                    log.exception("extension %s failed to start", name)

    def error_body(self, error: GatewayError, request_id: str, api: str = "openai") -> Any:
        """The body of an error response, from the ``gateway_error_body`` plugins."""
        return self.host.error_body(error, request_id, api)

    async def aclose(self) -> None:
        """Close every component this assembly built, in reverse order of building."""
        await close_all(self._closers)


def assemble(loaded: LoadedConfig, services_factory: Callable[[GatewayConfig, Any], Services]) -> Assembly:
    """Instantiate every component once, each by the builder's one rule (``sluicegate.builder``).

    Raises ``AssemblyFailed`` (a ``ConfigError``) listing every problem; its ``aclose()`` closes
    what had been built.
    """
    config, host = loaded.config, loaded.host
    services = services_factory(config, host.registry)
    builder = Builder()
    services.build = functools.partial(builder.nested, services=services)
    providers: dict[str, Provider] = {}
    for provider_id, options in config.providers.items():
        component = host.registry.get(PROVIDER, options.type)
        assert component is not None  # the loader checked the type
        made = builder.build(component, f"providers.{provider_id}", name=provider_id, options=options,
                             services=services)
        if made is not None:
            providers[provider_id] = made
    services.providers = providers
    _check_targets(config, providers, builder)
    extensions = _build_tables(builder, host, config, services, EXTENSION)
    # Before breakers and features are built: they report into it from their factories on.
    telemetry = Telemetry(extensions, known_target_labels(config))
    services.telemetry = telemetry
    authenticators = _build_tables(builder, host, config, services, AUTHENTICATOR)
    middlewares = _build_tables(builder, host, config, services, MIDDLEWARE)
    breakers = None
    policy = host.registry.get(BREAKER_POLICY, config.breaker.policy)
    if policy is not None:
        breakers = builder.build(policy, "breaker", options=config.breaker, services=services)
    responses: ResponseStore = NullResponseStore()
    try:
        responses = build_response_store(config.responses, services)
    except ConfigError as exc:
        builder.problems.extend(ConfigProblem(f"responses.{p.path}".rstrip("."), p.message) for p in exc.problems)
    if builder.problems:
        raise AssemblyFailed(builder.problems, config.source, builder.closers)
    # Per target numbers (in flight, latency, recent errors) outlive reloads: /health and the
    # latency and least-busy strategies keep what they learnt, and a request finishing on the old
    # assembly still updates the same counts.
    stats = services.lasting.setdefault("stats", StatsBoard())
    # A middleware object may also guard each upstream call (per-provider limits); found here,
    # once, not per request (the builder checked it is a coroutine).
    gates = [m.gate_target for _, m in middlewares if getattr(m, "gate_target", None) is not None]
    terminal = ResilientRouter(config.retry, breakers, stats, config.degrade, services, gates=gates)
    chain = compose([m for _, m in middlewares], terminal)
    return Assembly(
        config, host, providers, chain, [name for name, _ in middlewares],
        breakers=breakers, stats=stats, rng=services.rng, clock=services.clock, closers=builder.closers,
        extensions=dict(extensions), telemetry=telemetry, responses=responses,
        authenticators=dict(authenticators),
    )


def _check_targets(config: GatewayConfig, providers: dict[str, Provider], builder: Builder) -> None:
    """A provider whose factory left it out cannot be an alias's target."""
    for alias, model in config.models.items():
        for key in ("targets", "context_fallbacks"):
            for index, target in enumerate(getattr(model, key)):
                provider_id = target.partition("/")[0]
                if provider_id in config.providers and provider_id not in providers:
                    builder.problems.append(ConfigProblem(
                        f"models.{alias}.{key}[{index}]",
                        f"provider {provider_id!r} was left out (its factory returned None)"))


def _build_tables(builder: Builder, host: PluginHost, config: GatewayConfig, services: Services,
                  kind: str) -> list[tuple[str, Any]]:
    """Instantiate the enabled table-owning components of ``kind``, in ascending ``order``."""
    built: list[tuple[int, str, Any]] = []
    for name, component in host.registry.of_kind(kind).items():
        options = config.features.get(name)
        if options is None:
            if not component.always or name in config.switched_off:
                continue
            options = component.options() if component.options is not None else None
        made = builder.build(component, name, options=options, services=services)
        if made is not None:
            built.append((component.order, name, made))
    built.sort(key=lambda item: (item[0], item[1]))
    return [(name, made) for _, name, made in built]


@attrs.define
class ReloadResult:
    """How the last config reload went, for the admin API and logs."""

    ok: bool
    at: float | None  # wall-clock time; None: the config loaded at start
    source: str
    problems: list[str] = attrs.Factory(list)


@attrs.define
class GatewaySource:
    """Where a gateway's config comes from, so a reload can read it again."""

    path: str | None = None
    text: str | None = None
    env: Mapping[str, str] | None = None
    extra_plugins: Iterable[tuple[str, Any]] = ()
    use_entry_points: bool = True
    last_read: bytes | None = attrs.field(default=None, eq=False, repr=False)

    def describe(self) -> str:
        return "(in-memory config)" if self.text is not None else (self.path or "gateway.toml")

    def load(self) -> LoadedConfig:
        if self.text is not None:
            return load_config_text(
                self.text,
                env=self.env,
                extra_plugins=self.extra_plugins,
                use_entry_points=self.use_entry_points,
            )
        path = self.path or "gateway.toml"
        # Read before loading: the file watch compares against it, so a write racing the load
        # is seen as a change (one extra reload) and never missed.
        self.last_read = _read_bytes(Path(path))
        return load_config(
            path,
            env=self.env,
            extra_plugins=self.extra_plugins,
            use_entry_points=self.use_entry_points,
        )


class Gateway:
    """The long-lived gateway of one server process; ``current`` is the assembly serving now."""

    def __init__(self, source: GatewaySource, loaded: LoadedConfig | None = None) -> None:
        self.source = source
        self.loaded = loaded if loaded is not None else source.load()
        self.http = None
        self.transport: Transport | None = None
        self.current: Assembly | None = None
        self.clock_overrides: dict[str, Any] = {}
        self._retiring: set[asyncio.Task[None]] = set()
        # Plugin state that outlives reloads (Services.lasting): metric registries and the like.
        self.lasting: dict[str, Any] = {}
        self.last_reload = ReloadResult(ok=True, at=None, source=self.loaded.config.source)
        # False once shutdown begins: /health/ready then answers 503 so balancers stop sending.
        self.accepting = True
        self.started = time.monotonic()
        self._watcher: asyncio.Task[None] | None = None
        self._reload_lock = asyncio.Lock()
        self.wall_clock = time.time
        # How long the watched file must stay unchanged (and how long to wait at most) before
        # the file watch reloads it; see sluicegate.settle.
        self.watch_settle = settle.SETTLE
        self.watch_limit = settle.LIMIT
        self.watch_every = settle.WATCH_EVERY

    @property
    def config(self) -> GatewayConfig:
        return self.loaded.config

    def make_services(self, config: GatewayConfig, registry: Any = None) -> Services:
        overrides = {"transport": self.transport, **self.clock_overrides}
        return Services(http=self.http, config=config, registry=registry, lasting=self.lasting, **overrides)

    async def start(self, http, transport: Transport | None = None) -> None:
        """Serve: ``http`` is the gateway's ClientSession; ``transport``, when given, carries the
        HTTP providers' calls instead of it (``[server] upstream_client``)."""
        self.http = http
        self.transport = transport
        try:
            self.current = assemble(self.loaded, self.make_services)
        except AssemblyFailed as exc:
            await exc.aclose()
            raise
        await self.current.start()
        self._watch_if_asked()

    def error_body(self, error: GatewayError, request_id: str, api: str = "openai") -> Any:
        """An error body when no assembly is at hand (before the first, after the last)."""
        if self.current is not None:
            return self.current.error_body(error, request_id, api)
        return self.loaded.host.error_body(error, request_id, api)

    def _watch_if_asked(self) -> None:
        """Watch the config file when ``[server] watch_config`` says so (the default)."""
        wanted = self.source.text is None and self.config.server.watch_config
        if wanted and self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._watch())
        elif not wanted and self._watcher is not None:
            self._watcher.cancel()
            self._watcher = None

    async def _watch(self) -> None:
        path = await asyncio.to_thread(Path(self.source.path or "gateway.toml").resolve)
        seen = self.source.last_read

        def look() -> Awaitable[settle.Snapshot | None]:
            return asyncio.to_thread(settle.take_snapshot, path)

        # None: the first look reads the file, so a change made while the watch was starting up
        # is found by comparing contents.
        last: tuple[int, ...] | None = None
        looks = 0
        try:
            while True:
                await asyncio.sleep(self.watch_every)
                looks += 1
                now = await asyncio.to_thread(settle.signature, path)
                if now == last and now is not None and looks % settle.READ_EVERY:
                    continue
                last = now
                content = await asyncio.to_thread(_read_bytes, path)
                if content is None or content in (seen, self.source.last_read):
                    # Touched, mid-replace, or already loaded (the admin API reloads after its
                    # own writes): nothing to do.
                    continue
                # A truncate-then-write is seen at its first step: wait for the last one.
                settled = await settle.Settler(look, settle=self.watch_settle, limit=self.watch_limit).wait()
                if settled is None:
                    log.warning("config file %s is still changing after %gs; it is reloaded once it "
                                "settles", path, self.watch_limit)
                    last = None  # look again next time, however the metadata looks then
                    continue
                if settled.content in (seen, self.source.last_read):
                    continue  # the writer put back what is loaded
                seen = settled.content
                log.info("config file %s changed; reloading", path)
                await self.reload()
        except Exception:  # e.g. a bug in a look; SIGHUP and the admin API still work
            log.exception("stopped watching %s; reload with SIGHUP or POST /admin/reload", path)

    async def reload(self) -> bool:
        """Load the config again and swap it in atomically; a bad config is refused and logged.

        Requests already running finish on the assembly they started with; it is closed after
        ``server.shutdown_grace`` seconds. Server-level settings (host, port, workers) need a
        restart. Never raises: anything that goes wrong before the swap (a bad config, a
        plugin's bug) refuses the reload, closes what was built for it and keeps the old config
        serving, so the file watch and SIGHUP keep working.
        """
        loop = asyncio.get_running_loop()
        async with self._reload_lock:  # two reloads at once would retire each other's work
            try:
                # Reading files and importing plugins blocks; keep it off the event loop.
                loaded = await loop.run_in_executor(None, self.source.load)
                assembly = assemble(loaded, self.make_services)
            except ConfigError as exc:
                if isinstance(exc, AssemblyFailed):
                    await exc.aclose()
                return self._refused([str(p) for p in exc.problems], exc)
            except PluginError as exc:
                return self._refused([str(exc)], exc)
            except Exception as exc:  # a bug, ours or a plugin's: the traceback is for the log
                log.exception("config reload failed unexpectedly")
                message = scrub(f"unexpected {type(exc).__name__}: {exc}", config_secrets(self.config))
                return self._refused([message], message)
            # Started before it serves: what its extensions load at start (keys from a
            # database) is there for its first request.
            await assembly.start()
            old, self.current, self.loaded = self.current, assembly, loaded
            self.last_reload = ReloadResult(True, self.wall_clock(), loaded.config.source)
        log.info("config reloaded from %s", loaded.config.source)
        self._report_reload(True)
        self._watch_if_asked()
        if old is not None:
            task = loop.create_task(self._retire(old, loaded.config.server.shutdown_grace))
            self._retiring.add(task)
            task.add_done_callback(self._retiring.discard)
        return True

    def _refused(self, problems: list[str], reason: object) -> bool:
        self.last_reload = ReloadResult(False, self.wall_clock(), self.source.describe(), problems)
        log.error("config reload refused; the previous config keeps serving.\n%s", reason)
        self._report_reload(False)
        return False

    def _report_reload(self, ok: bool) -> None:
        if self.current is not None:
            self.current.telemetry.config_reloaded(ok)

    async def _retire(self, assembly: Assembly, grace: float) -> None:
        try:
            await asyncio.sleep(grace)
        finally:
            # Also when close() cuts the grace short: a retiring assembly still holds resources.
            await assembly.aclose()

    async def close(self) -> None:
        self.accepting = False
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
            self._watcher = None
        retiring = list(self._retiring)
        for task in retiring:
            task.cancel()
        await asyncio.gather(*retiring, return_exceptions=True)
        if self.current is not None:
            await self.current.aclose()
            self.current = None


def _read_bytes(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None
