"""The doctor in-process (``main([...])``) against the testing kit's fake provider and
hand-made discovery servers: set up right it exits 0, each wrong set-up is a named fault."""

from __future__ import annotations

import re
from typing import Any

import pytest

from aiohttp_oauth2_login.testing import FakeProvider

from ..support.peers import free_port
from .conftest import Doctor, MakeOP

APP = "tests.doctor.apps:make_app"


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DOCTOR_PUBLIC_URL", "DOCTOR_NO_KEY", "DOCTOR_ALGS", "DOCTOR_HTTP_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)


async def test_fake_set_up_right_passes(
    doctor: Doctor, fake_op: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCTOR_ISSUER", fake_op.issuer)
    result = await doctor(APP, "--json")
    assert result.code == 0, result.out
    assert result.faults() == set()
    for check in (
        "discovery",
        "discovery.issuer",
        "discovery.iss_parameter",
        "discovery.pkce",
        "discovery.response_type",
        "discovery.algorithms",
        "endpoint.https",
        "jwks",
        "clock.skew",
        "secret_key",
        "cookie",
    ):
        assert result.levels(check) == ["OK"], check
    assert result.levels("public_url.http") == ["WARN"]  # http on loopback: development only
    login = result.report["logins"][0]
    assert login["login_url"] == "http://127.0.0.1:8080/auth/login"
    assert login["logout_url"] == "http://127.0.0.1:8080/auth/logout"
    provider = login["providers"][0]
    assert provider["redirect_uri"] == "http://127.0.0.1:8080/auth/callback/op"
    assert provider["client_id"] == "test-client"
    assert provider["client_secret"] == "set (27 characters)"
    assert provider["endpoints"]["token_endpoint"] == fake_op.issuer + "/token"
    assert login["session"]["cookie_name"] == "aiohttp_oauth2"
    assert login["session"]["samesite"] == "Lax"


async def test_readable_report(
    doctor: Doctor, fake_op: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCTOR_ISSUER", fake_op.issuer)
    result = await doctor("tests.doctor.apps:make_app_async")  # an async factory
    assert result.code == 0
    assert "redirect URI to register: http://127.0.0.1:8080/auth/callback/op" in result.out
    assert "client_secret set (27 characters)" in result.out
    assert re.search(rf"\n  OK +op +issuer {re.escape(fake_op.issuer)}\n", result.out)
    assert re.search(r"\n  WARN +/auth +public_url http://127.0.0.1:8080/ is plain", result.out)
    assert re.search(r"\n +fix: use the site's https URL in production\n", result.out)
    assert result.out.rstrip().endswith("0 faults, 1 warning, 11 ok: no faults")


async def test_issuer_in_config_differs(
    doctor: Doctor, fake_op: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """localhost in the configuration, 127.0.0.1 in the provider's own issuer."""
    wrong = fake_op.issuer.replace("127.0.0.1", "localhost")
    monkeypatch.setenv("DOCTOR_ISSUER", wrong)
    result = await doctor(APP, "--json")
    assert result.code == 1
    check = result.check("discovery.issuer")
    assert check["level"] == "FAULT"
    assert fake_op.issuer in check["message"] and wrong in check["message"]
    assert check["fix"] == f"set issuer={fake_op.issuer!r} exactly (OIDC Discovery §4.3)"


async def test_issuer_with_a_trailing_slash(
    doctor: Doctor, fake_op: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCTOR_ISSUER", fake_op.issuer + "/")
    result = await doctor(APP, "--json")
    assert result.code == 1
    assert "trailing slash" in result.check("discovery.issuer")["message"]


async def test_provider_names_another_issuer(
    doctor: Doctor, fake_op: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_op.fail("discovery_wrong_issuer")
    monkeypatch.setenv("DOCTOR_ISSUER", fake_op.issuer)
    result = await doctor(APP, "--json")
    assert result.code == 1
    assert result.faults() == {"discovery.issuer"}


@pytest.mark.parametrize(
    ("failure", "said"),
    [("discovery_500", "answered HTTP 500"), ("discovery_html", "without JSON")],
)
async def test_discovery_unusable(
    doctor: Doctor,
    fake_op: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    failure: str,
    said: str,
) -> None:
    fake_op.fail(failure)
    monkeypatch.setenv("DOCTOR_ISSUER", fake_op.issuer)
    result = await doctor(APP, "--json")
    assert result.code == 1
    assert said in result.check("discovery.unreachable")["message"]


async def test_jwks_unusable(
    doctor: Doctor, fake_op: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_op.fail("jwks_500")
    monkeypatch.setenv("DOCTOR_ISSUER", fake_op.issuer)
    result = await doctor(APP, "--json")
    assert result.code == 1
    assert result.faults() == {"jwks.unreachable"}


async def test_unreachable_issuer_is_a_named_fault(
    doctor: Doctor, monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    monkeypatch.setenv("DOCTOR_ISSUER", issuer)
    result = await doctor(APP)
    assert result.code == 1
    assert re.search(rf"\n  FAULT +op +discovery {re.escape(issuer)}/\.well-known/", result.out)
    assert "unreachable (ClientConnectorError" in result.out
    assert "Traceback" not in result.out + result.err


async def test_silent_provider_times_out(
    doctor: Doctor, handmade_op: MakeOP, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = await handmade_op(hang=True)
    monkeypatch.setenv("DOCTOR_ISSUER", op.issuer)
    monkeypatch.setenv("DOCTOR_HTTP_TIMEOUT", "0.2")  # setup_oauth's http_timeout is used
    result = await doctor(APP, "--json")
    assert result.code == 1
    assert "no answer within 0.2 s" in result.check("discovery.unreachable")["message"]


async def test_hand_made_provider_set_up_right(
    doctor: Doctor, handmade_op: MakeOP, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The baseline of the hand-made cases below: the same server without the mistake."""
    op = await handmade_op()
    monkeypatch.setenv("DOCTOR_ISSUER", op.issuer)
    result = await doctor(APP, "--json")
    assert result.code == 0, result.out
    assert result.report["summary"]["WARN"] == 1  # public_url on loopback http


@pytest.mark.parametrize(
    ("changes", "fault", "said"),
    [
        ({"code_challenge_methods_supported": ["plain"]}, "discovery.pkce", "no S256"),
        (
            {"id_token_signing_alg_values_supported": ["none", "HS256"]},
            "discovery.algorithms",
            "asymmetric signatures only",
        ),
        ({"response_types_supported": ["token"]}, "discovery.response_type", "no 'code'"),
        ({"token_endpoint": "http://idp.example.com/token"}, "endpoint.insecure", "plain http"),
        ({"jwks_uri": None}, "discovery.endpoint", "no jwks_uri"),
        ({"authorization_endpoint": "/authorize"}, "discovery.endpoint", "not an absolute URL"),
    ],
)
async def test_discovery_faults(
    doctor: Doctor,
    handmade_op: MakeOP,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, Any],
    fault: str,
    said: str,
) -> None:
    op = await handmade_op(changes=changes)
    monkeypatch.setenv("DOCTOR_ISSUER", op.issuer)
    result = await doctor(APP, "--json")
    assert result.code == 1
    assert fault in result.faults()
    messages = [c["message"] for c in result.report["checks"] if c["id"] == fault]
    assert any(said in m for m in messages), messages


@pytest.mark.parametrize(
    ("changes", "warning"),
    [
        ({"authorization_response_iss_parameter_supported": None}, "discovery.iss_parameter"),
        ({"code_challenge_methods_supported": None}, "discovery.pkce"),
        ({"id_token_signing_alg_values_supported": None}, "discovery.algorithms"),
    ],
)
async def test_discovery_warnings(
    doctor: Doctor,
    handmade_op: MakeOP,
    monkeypatch: pytest.MonkeyPatch,
    changes: dict[str, Any],
    warning: str,
) -> None:
    op = await handmade_op(changes=changes)
    monkeypatch.setenv("DOCTOR_ISSUER", op.issuer)
    result = await doctor(APP, "--json")
    assert result.code == 0
    assert result.levels(warning) == ["WARN"]


async def test_jwks_without_usable_keys(
    doctor: Doctor, handmade_op: MakeOP, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = await handmade_op()
    op.jwks = {"keys": [{"kty": "oct", "k": "c2VjcmV0", "alg": "HS256"}]}
    monkeypatch.setenv("DOCTOR_ISSUER", op.issuer)
    result = await doctor(APP, "--json")
    assert result.code == 1
    assert result.faults() == {"jwks.no_keys"}


async def test_configured_algorithms_the_provider_does_not_use(
    doctor: Doctor, handmade_op: MakeOP, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = await handmade_op()
    monkeypatch.setenv("DOCTOR_ISSUER", op.issuer)
    monkeypatch.setenv("DOCTOR_ALGS", "ES256")
    result = await doctor(APP, "--json")
    assert result.code == 1
    assert result.faults() == {"discovery.algorithms", "jwks.no_keys"}


async def test_discovery_that_redirects(
    doctor: Doctor, handmade_op: MakeOP, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = await handmade_op(redirect=True)
    monkeypatch.setenv("DOCTOR_ISSUER", op.issuer)
    result = await doctor(APP, "--json")
    assert result.code == 1
    assert "never follows redirects" in result.check("discovery.unreachable")["message"]


@pytest.mark.parametrize(
    ("offset", "level"), [(120, "FAULT"), (-120, "FAULT"), (45, "WARN"), (-45, "WARN")]
)
async def test_clock_skew_from_the_date_header(
    doctor: Doctor,
    handmade_op: MakeOP,
    monkeypatch: pytest.MonkeyPatch,
    offset: int,
    level: str,
) -> None:
    op = await handmade_op(date_offset=offset)
    monkeypatch.setenv("DOCTOR_ISSUER", op.issuer)
    result = await doctor(APP, "--json")
    check = result.check("clock.skew")
    assert check["level"] == level
    skew = re.match(r"clock skew (\d+) s", check["message"])
    assert skew is not None, check["message"]
    assert abs(int(skew[1]) - abs(offset)) <= 1  # Date has a resolution of one second
    ahead = "the provider's clock is ahead" if offset > 0 else "this machine's clock is ahead"
    assert ahead in check["message"]
    assert result.code == (1 if level == "FAULT" else 0)
