"""sluicegate provider ``type = "azure"``: Azure OpenAI.

Azure speaks OpenAI's dialect, so this is the ``openai`` provider with Azure's differences:
where each call goes (the v1 API, or the classic per-deployment paths with ``api-version``;
``sluicegate_azure.urls``), the model name it gets (its deployment, from the ``deployments``
map), how it authenticates (the ``api-key`` header, or a Microsoft Entra ID bearer token;
``sluicegate_azure.entra``), and how its errors read (``sluicegate_azure.errors``: the content
filter's refusals, ``DeploymentNotFound``, ``retry-after-ms``). Bodies pass through as on the
``openai`` type, Azure's own fields (``prompt_filter_results``, ``content_filter_results``)
included; ``/v1/responses`` passes through to Azure's Responses API.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping

from attrs import evolve

from sluicegate import hookimpl
from sluicegate.errors import ConfigError, InvalidRequest, UpstreamError
from sluicegate.exchange import Endpoint, SSEEvent
from sluicegate.resilience.retry_after import retry_after_seconds
from sluicegate.resilience.streams import openai_preamble
from sluicegate_azure import errors
from sluicegate_azure.entra import AsyncTokenCredential, EntraToken
from sluicegate_azure.options import AzureOptions, key_problems, unset_reason
from sluicegate_azure.urls import AZURE_ENDPOINTS, AzureUrls, deployment_problem, resource_endpoint
from sluicegate_openai import OpenAIProvider

__all__ = ["AzureOptions", "AzureProvider"]

# The statuses whose wait (retry-after-ms, retry-after) the client is told.
_WAIT_STATUSES = frozenset({429, 503})


class AzureProvider(OpenAIProvider):
    endpoints = AZURE_ENDPOINTS - {Endpoint.RESPONSES}  # Responses: by the ``responses`` option
    requires_key = True

    def __init__(self, name: str, options: AzureOptions, services) -> None:
        problems = key_problems(options)
        if problems:
            raise ConfigError(problems)
        # Read by auth_headers, which the base classes call while they are built.
        self._token: EntraToken | None = None
        super().__init__(name, options, services)
        self.deployments = dict(options.deployments)
        self.urls = AzureUrls.build(resource_endpoint(options.base_url), options.api_version, self.deployments.values())
        # The health check's GET (``probe``) goes to the models listing.
        self.base_url = self.urls.endpoint
        self.probe_path = self.urls.probe.removeprefix(self.urls.endpoint)
        if options.auth == "entra" and self.configured:
            self._token = self._entra_token()

    # -- configuration ----------------------------------------------------------------------

    def _check_configured(self, options: AzureOptions) -> str | None:
        unset = unset_reason(options)
        if unset is not None:
            return unset
        if options.auth == "entra":
            return None  # the token is fetched per need; no key to check
        return super()._check_configured(options)

    def secrets(self) -> tuple[str, ...]:
        values = super().secrets()
        secret = self.options.client_secret
        return tuple(sorted({*values, secret.reveal()})) if secret else values

    def _entra_token(self) -> EntraToken:
        # azure-identity is the optional "entra" extra (the options refuse auth = "entra" without
        # it), so only a provider that uses it imports it.
        from sluicegate_azure import identity

        options = self.options
        return EntraToken(
            self.new_credential(),
            options.entra_scope,
            provider=self.name,
            timeout=options.entra_timeout,
            wall_clock=self.services.wall_clock,
            refusals=identity.REFUSALS,
            clean=self.clean,
            log=self.services.log,
        )

    def new_credential(self) -> AsyncTokenCredential:
        """The async credential Entra ID tokens come from (``sluicegate_azure.identity``). The one
        seam for tests: a subclass may trust a test CA or hand over a scripted credential."""
        from sluicegate_azure import identity  # the optional extra, as in _entra_token

        return identity.new_credential(self.options)

    def describe(self) -> dict:
        info = super().describe()
        info["api_version"] = self.options.api_version or "v1"
        info["auth"] = self.options.auth
        return info

    def auth_headers(self) -> dict[str, str]:
        if self.options.auth == "entra":
            # Only while a token is cached (the health check asks it first); calls get theirs in
            # request_headers, and the fixed headers built at start never hold one.
            token = self._token.current if self._token is not None else None
            return {"Authorization": f"Bearer {token}"} if token else {}
        return {"api-key": self.options.api_key.reveal()} if self.options.api_key else {}

    # -- calls ------------------------------------------------------------------------------

    async def send(self, ctx, req, target):
        model = target.model
        deployment = self.deployments.get(model)
        if deployment is None:
            deployment = model
            # A model the map does not name is its own deployment name; in a classic URL's path
            # it must be one (a client's "azure/../x" must not reach another path).
            if self.urls.needs_path_safe(req.endpoint) and (problem := deployment_problem(model)):
                raise InvalidRequest(f"provider {self.name!r}: {problem}", param="model", code="invalid_deployment")
        if deployment != model:
            target = evolve(target, model=deployment)  # the body's model is the deployment too
        return await super().send(ctx, req, target)

    def url_for(self, endpoint, target) -> str:
        return self.urls.for_call(endpoint, target.model)

    async def request_headers(self, ctx):
        headers = await super().request_headers(ctx)
        if self._token is not None:
            headers["Authorization"] = f"Bearer {await self._token.get()}"
        return headers

    async def probe(self) -> None:
        if self._token is not None:
            await self._token.get()  # so auth_headers has a token to send
        await super().probe()

    async def _relay(self, response) -> AsyncIterator[SSEEvent]:
        """The chat stream as Azure sends it, except that its first chunk, the prompt's filter
        verdict (``"choices": []`` and ``prompt_filter_results``), waits for the first content.
        The router counts any chunk with no choices as content, so without this a deployment
        that stalls after the verdict would never be failed over."""
        held: list[SSEEvent] = []
        async for event in super()._relay(response):
            if _prompt_verdict(event.data) or (held and openai_preamble(event)):
                event.more = True  # written with the content that follows
                held.append(event)
                continue
            if held:
                for waiting in held:
                    yield waiting
                held = []
            yield event

    async def aclose(self) -> None:
        if self._token is not None:
            await self._token.aclose()
        await super().aclose()

    # -- errors -----------------------------------------------------------------------------

    def vendor_error_class(self, status, code, kind, message):
        known = errors.CODES.get(code or "")
        return known if known is not None else super().vendor_error_class(status, code, kind, message)

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> UpstreamError:
        error = errors.read(body)
        if error.content_filter:
            text = errors.content_filter_message(error)
        else:
            text = error.message
            if error.code == "DeploymentNotFound":
                text += f" (is the model mapped to its deployment name in [providers.{self.name}] deployments?)"
        wait = None
        if status in _WAIT_STATUSES:
            # Azure's retry-after-ms is finer than retry-after; either tells the gateway's own
            # retries how long to wait, and the client as Retry-After (whole seconds).
            wait = retry_after_seconds(headers, self.services.wall_clock(), status=status)
        upstream = UpstreamError(
            f"provider {self.name!r} returned HTTP {status}: {self.clean(text)}",
            provider=self.name,
            status=status,
            # Azure's code, type and param reach the client and the access log too: scrubbed.
            type=self.clean(errors.client_type(error, status)),
            code=self.clean(errors.client_code(error, status)),
            param=self.clean(error.param) if error.param else None,
            headers={"Retry-After": str(max(1, math.ceil(wait)))} if wait is not None else None,
            retry_after=wait,
        )
        known = errors.error_class(error)
        if known is None:
            known = self.vendor_error_class(status, error.code, error.type, error.message)
        return self.classified(upstream, known)  # type: ignore[return-value]


def _prompt_verdict(data: bytes) -> bool:
    """Azure's first stream chunk: the prompt's filter verdict, no choices yet."""
    return b'"prompt_filter_results"' in data and b'"choices":[]' in data


@hookimpl
def register_providers(register):
    register("azure", AzureProvider, options=AzureOptions)
