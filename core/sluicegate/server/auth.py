"""Client authentication: bearer tokens (or x-api-key) checked against [auth] tokens."""

from __future__ import annotations

from collections.abc import Mapping

from sluicegate.errors import AuthenticationFailed


def client_token(headers: Mapping[str, str]) -> str | None:
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer":
            return token.strip() or None
        return None
    return headers.get("x-api-key") or None


def authenticate(tenants: dict[str, str], open_access: bool, headers: Mapping[str, str]) -> str | None:
    """The caller's tenant label, or None when the gateway is open; raises 401 otherwise."""
    if open_access:
        return None
    token = client_token(headers)
    if token is None:
        raise AuthenticationFailed(
            "Missing API key. Send 'Authorization: Bearer <token>' with a token from [auth] tokens.",
            code="missing_api_key",
        )
    tenant = tenants.get(token)
    if tenant is None:
        # Never echo the token, not even partly.
        raise AuthenticationFailed("Invalid API key provided.")
    return tenant
