"""The ``bedrock`` provider: see the package docstring for what it does; imported by the factory
in ``sluicegate_bedrock`` when a config has a Bedrock provider (botocore is ~8 MB)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from types import MappingProxyType
from typing import Any

import orjson
from botocore.credentials import ReadOnlyCredentials
from yarl import URL

from sluicegate.errors import GatewayError, ProviderNotConfigured, UpstreamError, UpstreamTimeout
from sluicegate.exchange import (
    Endpoint,
    GatewayRequest,
    Reply,
    RequestContext,
    Result,
    Sender,
    SSEEvent,
    Target,
)
from sluicegate.resilience.classify import TRAITS, ErrorClass
from sluicegate.translating import TranslatingProvider, VendorCall
from sluicegate.transport import UpstreamResponse
from sluicegate_bedrock import anthropic_native, errors, model_ids, translate
from sluicegate_bedrock.converse_stream import ConverseStreamTranslator, StreamEvent
from sluicegate_bedrock.eventstream import ERROR_EVENT, FramingError, iter_events
from sluicegate_bedrock.options import BedrockOptions
from sluicegate_bedrock.signing import CredentialSettings, CredentialSource, CredentialsUnavailable, Signer

_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


def default_endpoint(region: str) -> str:
    """The runtime endpoint of ``region`` (China's regions live under ``amazonaws.com.cn``)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"https://bedrock-runtime.{region}.{suffix}"


def new_completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


class BedrockProvider(TranslatingProvider):
    endpoints = frozenset({Endpoint.CHAT})
    # Credentials come from the table, the environment or a role; an API key is optional.
    requires_key = False
    # The /v1/messages bridge maps thinking onto reasoning_effort (Claude's thinking on Converse)
    # and keeps cache_control marks (Converse's cachePoint).
    reasoning_effort = True
    cache_control = True
    answer_name = "a Bedrock answer"
    # A client's own x-amz-* headers (a date, a token) would be taken for the signature's.
    vendor_header_prefixes = ("x-amz-", "x-amzn-")

    def __init__(self, name: str, options: BedrockOptions, services: Any) -> None:
        super().__init__(name, options, services)
        self.base_url = (options.base_url or default_endpoint(options.region)).rstrip("/")
        self.claude = model_ids.ModelFamily(options.claude_models)
        self.betas = frozenset(options.betas_allowed)
        self.guardrail: dict[str, str] | None = None
        self._invoke_headers: Mapping[str, str] = _NO_HEADERS
        if options.guardrail_identifier is not None:
            self.guardrail = {
                "guardrailIdentifier": options.guardrail_identifier,
                "guardrailVersion": str(options.guardrail_version),
            }
            self._invoke_headers = MappingProxyType({
                "X-Amzn-Bedrock-GuardrailIdentifier": options.guardrail_identifier,
                "X-Amzn-Bedrock-GuardrailVersion": str(options.guardrail_version),
            })
        self.signer: Signer | None = None
        self.credentials: CredentialSource | None = None
        if options.api_key is None:
            self.signer = Signer(options.region, services.wall_clock)
            self.credentials = CredentialSource(
                CredentialSettings(
                    region=options.region,
                    access_key_id=options.access_key_id or None,
                    secret_access_key=options.secret_access_key.reveal() if options.secret_access_key else None,
                    session_token=options.session_token.reveal() if options.session_token else None,
                    profile=options.profile,
                    role_arn=options.role_arn,
                    role_session_name=options.role_session_name,
                    sts_timeout=min(10.0, options.credentials_timeout),
                ),
                wall_clock=services.wall_clock,
                timeout=options.credentials_timeout,
            )

    def _check_configured(self, options: BedrockOptions) -> str | None:  # type: ignore[override]
        for key, value in (("api_key", options.api_key), ("secret_access_key", options.secret_access_key),
                           ("session_token", options.session_token)):
            if value is not None and not value:
                return f"{', '.join(value.missing)} is not set" if value.missing else f"{key} is empty"
        access = options.access_key_id
        if access is not None and not access:
            missing = getattr(access, "missing", ())
            return f"{', '.join(missing)} is not set" if missing else "access_key_id is empty"
        return None

    def _senders(self) -> dict[Endpoint, Sender]:
        senders = super()._senders()
        bridged = senders[Endpoint.MESSAGES]

        async def messages(ctx: RequestContext, req: GatewayRequest, target: Target) -> Result:
            # Claude speaks the Messages API on Bedrock itself; other models through Converse.
            if target.model in self.claude:
                return await self._invoke(ctx, req, target)
            return await bridged(ctx, req, target)

        senders[Endpoint.MESSAGES] = messages
        return senders

    def describe(self) -> dict[str, Any]:
        info = super().describe()
        info["region"] = self.options.region
        info["auth"] = "sigv4" if self.credentials is not None else "api_key"
        return info

    # -- credentials ------------------------------------------------------------------------------

    def auth_headers(self) -> dict[str, str]:
        if not self.options.api_key:
            return {}
        return {"Authorization": f"Bearer {self.options.api_key.reveal()}"}

    async def call_credentials(self, call: VendorCall) -> Mapping[str, str]:
        if self.credentials is None or self.signer is None:
            return _NO_HEADERS
        credentials = await self._current_credentials()
        signed = self.signer.sign(credentials, "POST", call.url, {**self.fixed_headers, **call.headers}, call.body)
        return signed.headers

    async def _current_credentials(self) -> ReadOnlyCredentials:
        assert self.credentials is not None
        try:
            return await self.credentials.current()
        except CredentialsUnavailable as exc:
            raise ProviderNotConfigured(
                f"provider {self.name!r} has no AWS credentials: {self.clean(str(exc))}", code="aws_credentials"
            ) from None
        except TimeoutError:
            raise UpstreamTimeout(
                f"provider {self.name!r} could not get AWS credentials within {self.credentials.timeout:g}s",
                provider=self.name,
                retryable=True,
                error_class=ErrorClass.TIMEOUT,
            ) from None

    async def probe(self) -> None:
        """Bedrock's runtime has no cheap authenticated listing: the check is that the
        credentials can be found (and a role assumed)."""
        if self.credentials is not None:
            await self._current_credentials()

    # -- OpenAI chat, translated to Converse -----------------------------------------------------

    def url(self, model: str, operation: str) -> str:
        # As the HTTP client will send it (it decodes what needs no encoding): the signature is
        # over that path.
        return str(URL(self.base_url + model_ids.model_path(model, operation)))

    def to_vendor(self, req: GatewayRequest, target: Target) -> VendorCall:
        body = translate.converse_request(req.body, claude=target.model in self.claude)
        if self.guardrail is not None:
            # The operator's guardrail, whatever the client asked.
            body["guardrailConfig"] = dict(self.guardrail)
        elif isinstance(req.body.get("guardrailConfig"), dict):
            body["guardrailConfig"] = req.body["guardrailConfig"]
        operation = model_ids.CONVERSE_STREAM if req.stream else model_ids.CONVERSE
        return VendorCall(self.url(target.model, operation), orjson.dumps(body))

    def from_vendor(self, data, req, target, created):
        return translate.chat_completion(data, model=target.model, created=created, completion_id=new_completion_id())

    def stream_translator(self, req, target, created) -> ConverseStreamTranslator:
        options = req.body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True
        return ConverseStreamTranslator(target.model, created, include_usage, new_completion_id())

    async def decode_stream(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[SSEEvent]:  # type: ignore[override]
        try:
            async for event in iter_events(chunks):
                yield event
        except FramingError:
            raise self.bad_answer() from None

    def event_data(self, event: SSEEvent) -> StreamEvent:
        return StreamEvent(event.event or "", self.parse(event.data))

    def stream_error(self, raw: bytes) -> GatewayError:
        return self._error(errors.error_details(raw), None, mid_stream=True)

    def map_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        error = self._error(errors.error_details(body, headers.get("x-amzn-ErrorType")), status)
        wait = headers.get("retry-after")
        if wait and error.status == 429:
            # Bedrock itself names no wait; a proxy in front of it may.
            error.headers["Retry-After"] = wait
        return error

    def _error(self, error: errors.BedrockError, status: int | None, *, mid_stream: bool = False) -> UpstreamError:
        kind = errors.classify_error(error, status)
        where = "reported an error mid-stream" if mid_stream else f"returned HTTP {status}"
        upstream = UpstreamError(
            f"provider {self.name!r} {where}: {self.clean(error.message)}",
            provider=self.name,
            status=kind.status,
            type=errors.openai_type(kind.status),
            code=self.clean(error.type) if error.type else f"upstream_{kind.status}",
        )
        upstream.error_class = kind.error_class
        upstream.retryable = TRAITS[kind.error_class].retryable
        return upstream

    # -- Claude's Messages API, passed through to InvokeModel -------------------------------------

    async def _invoke(self, ctx: RequestContext, req: GatewayRequest, target: Target) -> Result:
        betas = anthropic_native.accepted_betas(ctx.client_headers.getall("anthropic-beta", ()), self.betas)
        body = anthropic_native.invoke_body(req.for_target(target).body, betas, self.betas)
        operation = model_ids.INVOKE_STREAM if req.stream else model_ids.INVOKE
        call = VendorCall(self.url(target.model, operation), body, self._invoke_headers)
        # The client speaks Anthropic's API, not AWS's: its own headers stay here (call_headers).
        headers = self.call_headers(ctx, call)
        headers.update(await self.call_credentials(call))
        response = await self.post(call.url, call.body, headers, req.stream)
        if not req.stream:
            return Reply(await self.read_all(response))
        return self.stream_reply(self._relay(response), response)

    async def _relay(self, response: UpstreamResponse) -> AsyncIterator[SSEEvent]:
        stopped = False
        async for event in self.events(response, self.decode_stream):
            if stopped:
                continue  # read to the end so the connection goes back to the pool
            if event.event == ERROR_EVENT:
                raise self.stream_error(event.data)
            if event.event != "chunk":
                continue
            try:
                out = anthropic_native.chunk_event(event.data)
            except anthropic_native.CHUNK_FAILURES:
                raise self.bad_answer() from None
            if out.event == "error":
                raise self._anthropic_error(out.data)
            stopped = out.event == "message_stop"
            yield out
        if not stopped:
            raise self.cut_off()

    def _anthropic_error(self, raw: bytes) -> UpstreamError:
        """Claude's own error event (``overloaded_error``) inside a Bedrock chunk."""
        data = self.parse(raw).get("error")
        error = data if isinstance(data, dict) else {}
        kind = str(error.get("type") or "api_error")
        status = 503 if kind == "overloaded_error" else 429 if kind == "rate_limit_error" else 500
        upstream = UpstreamError(
            f"provider {self.name!r} reported {self.clean(kind)} mid-stream: "
            f"{self.clean(str(error.get('message') or 'no error message'))}",
            provider=self.name,
            status=status,
            code=self.clean(kind),
        )
        return self.classified(upstream)  # type: ignore[return-value]
