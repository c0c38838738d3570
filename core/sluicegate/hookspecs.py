"""The pluggy hook specifications: the whole contract between the core and its plugins.

Every hook here is synchronous and runs while a gateway is *assembled* (at start-up and again on
each config reload), never while a request is served. Hooks hand the core factories and
components; the core composes them into a chain of plain async callables once, so the
per-request path never touches the plugin manager.

A plugin is any module or object with functions decorated by ``sluicegate.hookimpl`` whose
names match the specs below. Distributions expose plugins through the ``sluicegate`` entry-point
group::

    [project.entry-points.sluicegate]
    myplugin = "my_package.plugin_module"

The ``register`` callbacks the ``register_*`` hooks receive take explicit keywords only::

    register(name, factory, *, options=None)                          # every kind
    register(name, factory, *, options=None, order=500, always=False) # middlewares, extensions,
                                                                      # authenticators

A keyword a kind does not take (``ordr=100``, or ``order`` for a cache backend) is a start-up
error naming the plugin, its distribution and the keyword meant.

``name``
    The component name. Provider types are chosen by ``[providers.X] type = name``;
    middlewares, extensions and authenticators own the top-level config table ``[name]``;
    cache backends, rate limiters, response stores and breaker policies are chosen by a key of
    their feature's table (``backend``, ``store``, ``policy``). Registering a name twice (from
    any two plugins) is a start-up error naming both distributions.
``factory``
    A callable the core invokes at assembly time with keyword arguments (see each hook).
    Every factory follows one rule: returning ``None`` leaves the component out; raising
    ``sluicegate.errors.ConfigError`` refuses the config with those problems (paths relative
    to the component's table); any other exception refuses it too, with a problem naming the
    component, the plugin and its distribution (the traceback is logged at debug level). A
    refused assembly closes what it had built, and a refused reload keeps the old config
    serving. What a factory returns is checked against its kind's contract in
    ``sluicegate.contracts`` once per assembly.
``options``
    An attrs class describing the component's config. The core structures the table into it
    with strict types and unknown keys rejected, so the factory receives validated, typed
    options. ``None`` means the component takes no options (or, for a chosen kind, the
    feature's own). For a chosen kind (cache backend, rate limiter, response store, breaker
    policy) the class must subclass the feature table's class (``CacheOptions``,
    ``RateLimitOptions``, ``ResponsesConfig``, ``BreakerOptions``); when the component is
    chosen it structures the whole table, so its own keys (a ``url``) sit beside the
    feature's and are checked with their TOML paths.
``order`` (table kinds)
    Position in the chain, ascending (default 500).
``always`` (table kinds)
    On even without a table (then ``[name] enabled = false`` turns it off).
"""

from __future__ import annotations

import pluggy

PROJECT = "sluicegate"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_providers(register):
    """Register provider types (vendor adapters).

    Runs once per assembly. Call ``register(type_name, factory, options=OptionsClass)`` for each
    provider type the plugin offers. ``OptionsClass`` must subclass
    ``sluicegate.provider.ProviderOptions`` (which holds ``type``, ``base_url``, ``api_key``,
    ``timeout``, ``models`` and ``headers``); a plugin may add fields or change defaults.

    For every ``[providers.<id>]`` table whose ``type`` is ``type_name`` the core calls
    ``factory(name=<id>, options=<OptionsClass instance>, services=<Services>)`` and expects a
    ``sluicegate.provider.Provider`` (the base class is the contract; ``None`` leaves that
    provider out). Raising from the factory (``sluicegate.errors.ConfigError`` for config
    problems) refuses the whole config. The return value of this hook is ignored.
    """


@hookspec
def register_middlewares(register):
    """Register request middlewares: code that runs around every proxied API call.

    Runs once per assembly. Call ``register(name, factory, options=OptionsClass, order=N,
    always=False)``. A middleware is enabled when the top-level table ``[name]`` is present in
    ``gateway.toml`` and does not say ``enabled = false`` (``OptionsClass`` should subclass
    ``sluicegate.plugin_options.FeatureOptions`` to get that key); with ``always=True`` it runs
    even when its table is absent, with default options.

    For each enabled middleware the core calls ``factory(options=..., services=...)`` once and
    expects an async callable ``middleware(ctx, req, call_next) -> Reply | StreamReply``.
    ``call_next(ctx, req)`` continues the chain; a middleware may return without calling it
    (short-circuit), raise a ``sluicegate.errors.GatewayError`` (the client gets that error), or
    wrap the reply's stream. Middlewares run in ascending ``order`` (``sluicegate.pipeline.Order``
    names the stages: EDGE, ADMIT, CACHE). A factory returning ``None`` leaves the middleware
    out of the chain.

    The middleware (``sluicegate.contracts.Middleware``) may be an object (with ``__call__``)
    offering two more coroutines, found and checked once at assembly: ``gate_target(ctx, req,
    target)`` runs before every upstream call (retries and fallbacks included) and may raise a
    ``GatewayError`` to refuse that target (the router then moves on, as for a vendor's 429) or
    return an async release callable run when the call ends; ``aclose()`` runs when the
    assembly is retired (config reload, shutdown).
    """


@hookspec
def register_cache_backends(register):
    """Register response-cache storage backends.

    Runs once per assembly. Call ``register(name, factory, options=OptionsClass)``; the cache
    feature (``[cache]``) picks one by ``backend = name`` (default ``"memory"``, the built-in
    plugin ``sluicegate.memory_cache``; ``"redis"`` comes with the ``sluicegate-redis``
    distribution). ``OptionsClass`` (optional) subclasses ``sluicegate.features.cache.CacheOptions``
    with the backend's own keys: when the backend is chosen, ``[cache]`` is structured into it.
    The cache calls ``factory(options=<the [cache] options>, services=...)`` once per assembly;
    the factory returns a ``sluicegate.contracts.CacheBackend``: ``async get(key) -> bytes |
    None``, ``async set(key, value, ttl)`` and ``async aclose()``. Backend errors are caught by
    the cache and count as misses (a request never fails because of its cache). Returning
    ``None`` leaves the cache out; raising refuses the config (``ConfigError`` paths are
    relative to ``[cache]``).
    """


@hookspec
def register_rate_limiters(register):
    """Register rate-limiter backends.

    Runs once per assembly. Call ``register(name, factory, options=OptionsClass)``; the
    rate-limit feature (``[ratelimit]``) picks one by ``backend = name`` (default ``"memory"``,
    the built-in plugin ``sluicegate.memory_limiter``; ``"redis"`` with ``sluicegate-redis``).
    ``OptionsClass`` (optional) subclasses ``sluicegate.features.ratelimit.RateLimitOptions``
    with the backend's own keys. The feature calls ``factory(options=<the [ratelimit]
    options>, services=...)`` once per assembly (not when the table sets no limit). The factory
    returns a ``sluicegate.contracts.RateLimiter``: ``async acquire(key, cost, rate, burst) ->
    Decision`` (GCRA; a negative cost gives back), ``async enter(key, limit, ttl) -> bool`` and
    ``async leave(key)`` for in-flight limits, and ``async aclose()``. Errors raised by the
    limiter are caught by the feature, which then fails open (docs/guides/cache-and-limits.md, "Rate limits").
    Returning ``None`` leaves the rate limits out; raising refuses the config.
    """


@hookspec
def register_breaker_policies(register):
    """Register circuit-breaker policies.

    Runs once per assembly. Call ``register(name, factory, options=OptionsClass)``;
    ``OptionsClass`` must subclass ``sluicegate.config.resilience.BreakerOptions`` (its
    ``policy`` and ``enabled`` keys included). The ``[breaker]`` table picks a policy by
    ``policy = name`` (default ``"consecutive"``, the built-in plugin ``sluicegate.breakers``)
    and is structured into that policy's options; the core then calls ``factory(options=...,
    services=...)`` once per assembly and expects a *board* (``sluicegate.contracts.BreakerBoard``;
    ``None`` runs without breakers): ``board.get(provider, model)`` returns that target's
    breaker (``sluicegate.contracts.Breaker``), made on first use, and ``board.snapshot()`` a
    JSON-able dict keyed ``"provider/model"`` for ``/health``. A breaker offers ``acquire() ->
    bool`` (may a call go now), ``record_success()``, ``record_failure(retry_after)``,
    ``release()`` (a call ended with no verdict), ``retry_in() -> float`` and ``snapshot() ->
    dict`` with a ``"state"`` of ``closed``, ``open`` or ``half_open``; every successful
    ``acquire()`` is followed by exactly one of the three endings. Breaker methods run on the
    request path and must not block. Raising from the factory refuses the config.
    """


@hookspec
def register_response_stores(register):
    """Register stores for the Responses API's stored responses (``previous_response_id``).

    Runs once per assembly. Call ``register(name, factory, options=OptionsClass)``; the
    ``[responses]`` table picks one by ``store = name`` (default ``"memory"``, the built-in
    plugin ``sluicegate.response_stores``; ``"redis"`` comes with ``sluicegate-redis``).
    ``OptionsClass`` (optional) subclasses ``sluicegate.config.responses.ResponsesConfig`` with
    the store's own keys (``url``). The core calls ``factory(options=<the [responses]
    options>, services=...)`` once per assembly (not when ``enabled = false``; a factory
    returning ``None`` stores nothing). The store is then ``Assembly.responses``, and its ``aclose()`` runs
    when that assembly is retired (reload, shutdown): entries must outlive it, in the
    store's backend or in ``services.lasting``, so a reload loses no stored response.

    The factory returns a ``sluicegate.contracts.ResponseStore``: ``async
    put(tenant, item)``, ``get(tenant, id)``, ``delete(tenant, id)``, ``history(tenant, id,
    max_links=None)`` and ``aclose()``. Every method keeps tenants apart (another tenant's
    response is unknown, ``None``). ``get``, ``delete`` and ``history`` raise a
    ``sluicegate.errors.GatewayError`` when the store cannot answer (``StoreUnavailable``, a
    503 the client may retry); ``put`` does not raise for an outage (it logs: the answer still
    reaches the client). Raising ``sluicegate.errors.ConfigError`` from the factory refuses the
    config; a ``store`` no plugin registered is a config error at ``responses.store``.
    """


@hookspec
def register_stores(register):
    """Register databases for issued keys, teams and the spend ledger (governance).

    Runs once per assembly. Call ``register(name, factory, options=OptionsClass)``; the
    ``[store]`` table (owned by the governance extension of ``sluicegate-governance``) picks one
    by ``backend = name`` (default ``"sql"``: SQLite or PostgreSQL through SQLAlchemy, from the
    same distribution). ``OptionsClass`` (optional) subclasses the owner's options class
    (``sluicegate_governance.options.StoreOptions``) with the store's own keys (``url``). The
    governance extension calls ``factory(options=<the [store] options>, services=...)`` once per
    assembly, through ``services.build``, and owns what it returns (it calls ``aclose()`` when the
    assembly is retired); ``None`` turns governance off for that assembly.

    The factory returns a ``sluicegate.contracts.Store``: ``open()``, ``version()``,
    ``snapshot()``, ``put_team``/``delete_team``/``put_key``/``delete_key``, ``record(rows)``,
    ``spend(since=...)``, ``usage(...)``, ``logs(...)``, ``purge(...)`` and ``aclose()``, all
    coroutines. None of them runs on the request path: keys are served from a snapshot held in
    memory, ledger rows are written in batches by a background task. They raise
    ``sluicegate_governance.protocols.StoreUnavailable`` when the database cannot answer (the
    gateway then serves from memory and keeps ledger rows for later). Raising
    ``sluicegate.errors.ConfigError`` from the factory refuses the config; a ``backend`` no
    plugin registered is a config error at ``store.backend``.
    """


@hookspec
def register_extensions(register):
    """Register extensions: components that watch the gateway work or add to what it serves.

    Runs once per assembly. Call ``register(name, factory, options=OptionsClass, order=N,
    always=False)``. Like a middleware, an extension owns the top-level table ``[name]``: it is
    enabled when that table is present and does not say ``enabled = false``, or always with
    ``always=True`` (then ``[name] enabled = false`` turns it off). The core calls
    ``factory(options=..., services=...)`` once per assembly; ``None`` leaves it out.

    The returned object (``sluicegate.contracts.Extension``) implements any of these, each found
    once at assembly and each plain and synchronous (they run on the request path: be quick,
    never block, never do I/O inline); a public method named like one but misspelt
    (``request_finshed``) is a config problem naming the plugin:

    ``request_started(record)``
        An HTTP request arrived. ``record`` is a ``sluicegate.telemetry.RequestRecord`` with its
        id, method, path and route filled in.
    ``request_finished(record)``
        The response is complete (a stream's last byte is sent, or its client left). The record
        now holds the status, client name, model, target, attempts, cache, tokens and timings.
        Extensions run in ascending ``order``; one may fill fields for those after it (the
        ``pricing`` extension sets ``record.cost``, ``order`` 100, before metrics and logs).
    ``breaker_changed(target, old, new)``
        A circuit breaker changed state; ``target`` is a bounded "provider/model" label.
    ``backend_failed(backend, feature)``
        A shared backend (``"redis"``) failed a call for ``feature`` (cache, ratelimit, breaker).
    ``config_reloaded(ok)``
        A config reload was tried; ``ok`` is False when the new config was refused (the old one
        keeps serving). Called on the extension of the assembly serving afterwards.

    and, for work of its own, coroutines ``start()`` (run once the assembly serves, e.g. to
    start a background task) and ``aclose()`` (run when the assembly is retired). A handler that
    raises is logged and skipped: an extension cannot fail a request. Routes are added with
    ``gateway_app_created``; read the live extension from ``gateway.current.extensions[name]``
    there, so a reload that changes or removes it is seen.
    """


@hookspec
def register_authenticators(register):
    """Register authenticators: who a request comes from, decided before anything reads it.

    Runs once per assembly. Call ``register(name, factory, options=OptionsClass, order=N,
    always=False)``. Like a middleware, an authenticator owns the top-level table ``[name]``
    and is on when that table is present (or always, with ``always=True``); the core calls
    ``factory(options=..., services=...)`` once per assembly. ``None`` leaves it out (the
    built-in ``auth`` authenticator of plugin ``sluicegate.auth``, which checks the bearer
    tokens of ``[auth] tokens`` and ``[auth.clients]``, returns ``None`` when no token is set).

    The returned object is a ``sluicegate.contracts.Authenticator``: ``async
    authenticate(headers) -> Identity | None``, run for every API request, in ascending
    ``order``, until one returns an ``Identity`` (``tenant`` keeps clients apart in caches,
    limits and stored responses; ``client`` names them in logs and metrics). Returning ``None``
    means "not my kind of credentials": the next authenticator decides. Raising
    ``sluicegate.errors.AuthenticationFailed`` refuses the request with a 401 (the message is
    the client's to read: never echo a credential). When every authenticator returns ``None``
    the client gets a 401 (``missing_api_key`` without credentials, ``invalid_api_key`` with
    unknown ones). With no authenticator on, the gateway is open (a warning at start).
    The chain is composed once per assembly: no plugin-manager call per request.
    """


@hookspec
def register_commands(commands):
    """Add commands to the ``sluicegate`` command line (``sluicegate keys create ...``).

    Runs once each time ``sluicegate`` starts, before its arguments are parsed, with every
    installed plugin loaded through its entry point (as ``sluicegate plugins`` lists them); it
    is not part of an assembly and no config is loaded yet (when the plugins cannot be loaded,
    a warning says so and only the core's commands are offered). ``commands`` is the ``argparse``
    subparsers action of the ``sluicegate`` parser: call ``commands.add_parser(name,
    help=...)``, add the command's arguments (a command that reads the config takes
    ``--config``, default ``gateway.toml``) and ``set_defaults(run=callable)``. A command may
    have subcommands (``add_subparsers``); every leaf sets its own ``run``.

    ``run(args)`` gets the parsed ``argparse.Namespace`` and returns the exit status (0 for
    success). Raising ``sluicegate.errors.ConfigError`` from it prints the config's problems and
    exits 1; print any other failure to stderr yourself (one line, no traceback, never a secret)
    and return 1. Raising from this hook, or a command name the core or another plugin has
    taken, stops ``sluicegate`` with an error naming the plugin (exit 1). Return value ignored.
    """


@hookspec
def gateway_app_created(app, gateway):
    """Extend the aiohttp application: add routes, signals or cleanup contexts.

    Runs once, when the HTTP application is created, before it is frozen (it does not run again
    on config reload). ``app`` is the ``aiohttp.web.Application``; ``gateway`` is the long-lived
    ``sluicegate.gateway.Gateway`` whose ``current`` attribute is the assembly serving right now
    (read it inside handlers, not here, so reloads are seen). Return value ignored; raising stops
    the server from starting.
    """


@hookspec(firstresult=True)
def gateway_error_body(error, request_id, api):
    """Build the JSON body of an error response.

    Collected once per assembly into a plain function; it then runs for each error response
    without going through pluggy. ``error`` is a ``sluicegate.errors.GatewayError`` whose
    message is already free of secrets; ``request_id`` is the response's ``x-request-id``;
    ``api`` names the API the client spoke: ``"openai"`` (every ``/v1/...`` route but these),
    ``"anthropic"`` (``/v1/messages``) or ``"gemini"`` (``/v1beta/models/{model}:generateContent``
    and its kin), whose SDKs expect different shapes. Return a JSON-serialisable object to use it
    as the body, or ``None`` to let the next implementation decide (return ``None`` for an
    ``api`` you do not shape). The built-in defaults return the OpenAI shape
    ``{"error": {"message", "type", "param", "code"}}``, the Anthropic shape
    ``{"type": "error", "error": {"type", "message"}, "request_id"}`` and Google's
    ``{"error": {"code", "message", "status", "details"}}``; they are the only
    implementation (there is no hard-coded fallback), so disabling one without installing a
    plugin that shapes that API's errors is a config problem. Raising is treated as ``None``.
    The same body is used for an error that ends a stream in-band.
    """
