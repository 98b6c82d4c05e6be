"""The doctor against panva oidc-provider (a real, certified OpenID provider in its own
process), set up right and wrong on purpose."""

from __future__ import annotations

import pytest

from ..e2e._harness import Peer
from .conftest import Doctor

APP = "tests.doctor.apps:make_app"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DOCTOR_PUBLIC_URL", "DOCTOR_NO_KEY", "DOCTOR_ALGS", "DOCTOR_HTTP_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


async def test_set_up_right(
    doctor: Doctor, oidc_provider: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCTOR_ISSUER", oidc_provider.issuer)
    result = await doctor(APP, "--json")
    assert result.code == 0, result.out
    assert result.faults() == set()
    for check in ("discovery.issuer", "discovery.iss_parameter", "discovery.pkce", "jwks"):
        assert result.levels(check) == ["OK"], check
    assert result.levels("clock.skew") == ["OK"]  # the same machine's clock
    endpoints = result.report["logins"][0]["providers"][0]["endpoints"]
    assert endpoints["token_endpoint"] == oidc_provider.issuer + "/token"
    assert endpoints["end_session_endpoint"] == oidc_provider.issuer + "/session/end"


async def test_issuer_with_a_trailing_slash_the_provider_lacks(
    doctor: Doctor, oidc_provider: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCTOR_ISSUER", oidc_provider.issuer + "/")
    result = await doctor(APP)
    assert result.code == 1
    assert "they differ only by the trailing slash" in result.out
    assert f"fix: set issuer='{oidc_provider.issuer}' exactly" in result.out


async def test_algorithm_without_a_key(
    doctor: Doctor, oidc_provider: Peer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ES256 configured: the provider signs with RS256 only (its discovery and its JWKS)."""
    monkeypatch.setenv("DOCTOR_ISSUER", oidc_provider.issuer)
    monkeypatch.setenv("DOCTOR_ALGS", "ES256")
    result = await doctor(APP, "--json")
    assert result.code == 1
    assert result.faults() == {"discovery.algorithms", "jwks.no_keys"}
    message = result.check("discovery.algorithms")["message"]
    assert message == "id_token_algorithms=['ES256'] but the provider signs with ['RS256']"
    assert "none for ES256" in result.check("jwks.no_keys")["message"]
