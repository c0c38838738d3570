"""Fixtures of the Vertex tests: a service account made at test time and the fake token
endpoint it points at, served by the test's ``fake_upstream``."""

from __future__ import annotations

import pytest

from sluicegate_vertex.fake_oauth import TOKEN_PATH, ServiceAccount, TokenEndpoint

# One RSA key per test session: making one costs a tenth of a second.
_ACCOUNT = ServiceAccount()


@pytest.fixture
def account() -> ServiceAccount:
    return _ACCOUNT


@pytest.fixture
def token_endpoint(fake_upstream, account) -> TokenEndpoint:
    endpoint = TokenEndpoint(account)
    fake_upstream.on(TOKEN_PATH, endpoint)
    return endpoint


@pytest.fixture
def credentials_file(tmp_path, fake_upstream, account, token_endpoint):
    """A service-account JSON whose token_uri is the fake token endpoint."""
    return account.write(tmp_path / "service-account.json", fake_upstream.url + TOKEN_PATH)
