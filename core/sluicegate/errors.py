"""The gateway's one error hierarchy and its OpenAI-shaped rendering.

Everything that can go wrong for a client ends up as a ``GatewayError``: the front door raises
them for bad input, adapters map vendor errors into them, and the edge renders them. Messages
must already be free of secrets when an error is created; nothing downstream inspects them.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """An error the client sees: HTTP status, OpenAI ``type``/``code``, message, retryability."""

    status: int = 500
    type: str = "server_error"
    code: str | None = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        type: str | None = None,
        code: str | None = ...,  # type: ignore[assignment]
        param: str | None = None,
        retryable: bool = False,
        headers: dict[str, str] | None = None,
        error_class: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if type is not None:
            self.type = type
        if code is not ...:
            self.code = code
        self.param = param
        # The same call may succeed if tried again. Also read by sluicegate.retry_hints, which
        # decides the client's x-should-retry and Retry-After where the error is rendered.
        self.retryable = retryable
        self.headers = headers or {}
        # One of sluicegate.resilience.classify.ErrorClass, when the adapter knows it; otherwise
        # classify() derives it from status and code.
        self.error_class = error_class
        # Seconds the vendor asked us to wait (Retry-After and kin), when it said.
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.status}, {self.code!r}, {self.message!r})"


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    """The caller is known but may not do this (a key calling a model it is not allowed)."""

    status = 403
    type = "permission_error"
    code = "permission_denied"


class ModelNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "model_not_found"


class RouteNotFound(GatewayError):
    status = 404
    type = "invalid_request_error"
    code = "not_found"


class MethodNotAllowed(GatewayError):
    status = 405
    type = "invalid_request_error"
    code = "method_not_allowed"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class UnsupportedMediaType(GatewayError):
    status = 415
    type = "invalid_request_error"
    code = "unsupported_encoding"


class UpstreamError(GatewayError):
    """A vendor answered with an error; status and code are the vendor's where meaningful."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"

    def __init__(self, message: str, *, provider: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.provider = provider


class UpstreamUnavailable(UpstreamError):
    """The vendor could not be reached (connection refused, reset, DNS)."""

    status = 502
    code = "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class ProviderNotConfigured(GatewayError):
    status = 503
    type = "server_error"
    code = "provider_not_configured"


class ConfigProblem:
    """One problem in a config file: where (a TOML path) and what."""

    __slots__ = ("path", "message")

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message

    def __repr__(self) -> str:
        return f"ConfigProblem({self.path!r}, {self.message!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, ConfigProblem)
            and (self.path, self.message) == (other.path, other.message)
        )

    def __hash__(self) -> int:
        return hash((self.path, self.message))


class ConfigError(Exception):
    """A config was refused; carries every problem found, each with its TOML path."""

    def __init__(self, problems: list[ConfigProblem], source: str = "gateway.toml") -> None:
        self.problems = problems
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.source}: {len(self.problems)} problem(s):"]
        lines.extend(f"  - {p}" for p in self.problems)
        return "\n".join(lines)


class PluginError(Exception):
    """A plugin could not be loaded or registered something invalid (start-up error)."""
