"""Injected failures through axa-group oauth2-mock-server 8.2.3 (a permissive OIDC provider).

Its event hooks, driven per test through the control endpoint of oauth2_mock_server.mjs, make
the token endpoint, userinfo, the ID token or the authorization response misbehave. Each case
must end in the status the README's Routes section fixes (400/401/403/502/504, never 500)
with an error page, and nobody signed in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from aiohttp_oauth2_login.providers import OIDCProvider

from ._harness import Browser, Navigation, Peer, Served, build_rp

NAME = "mock"
CALLBACK = f"/auth/callback/{NAME}"
CLIENT_ID = "mock-client"
CLIENT_SECRET = "mock-secret"


@pytest.fixture
def mock(mock_server: Peer) -> Iterator[Peer]:
    """The shared mock server, back to stock behaviour before and after each test."""
    mock_server.control("PUT", "/__control/behaviour", {})
    yield mock_server
    mock_server.control("PUT", "/__control/behaviour", {})


def behave(mock: Peer, behaviour: dict[str, Any]) -> None:
    mock.control("PUT", "/__control/behaviour", behaviour)


def stats(mock: Peer) -> dict[str, Any]:
    seen: dict[str, Any] = mock.control("GET", "/__control/stats")
    return seen


async def start_rp(start_app: Any, mock: Peer, **options: Any) -> Served:
    async def build(origin: str) -> Any:
        provider = OIDCProvider(
            name=NAME, issuer=mock.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET
        )
        return build_rp(origin, [provider], userinfo_path="userinfo", **options)

    served: Served = await start_app(build)
    return served


async def sign_in(browser: Browser, rp: Served) -> Navigation:
    """The mock approves at once: our 302, its 302 back, our callback (and what follows)."""
    journey = await browser.navigate(rp.url(f"/auth/login/{NAME}?next=/private"))
    assert journey.hops[0].status == 302
    return journey


async def nobody_signed_in(browser: Browser, rp: Served) -> None:
    status, body = await browser.json(rp.url("/private"))
    assert status == 401, body
    assert (await browser.json(rp.url("/")))[1] == {"user": None}


# ---- the happy path, with custom claims -------------------------------------------------------


async def test_login_with_custom_claims(mock: Peer, start_app: Any, browser: Browser) -> None:
    behave(
        mock,
        {
            "idToken": {
                "claims": {
                    "name": "John Doe",
                    "email": "john@example.com",
                    "email_verified": True,
                    "https://example.com/role": "admin",
                }
            },
            "userinfo": {
                "body": {
                    "sub": "johndoe",
                    "preferred_username": "jdoe",
                    "picture": "https://avatars.example.com/jdoe.png",
                    "email_verified": False,  # userinfo says otherwise: it is merged over
                }
            },
        },
    )
    rp = await start_rp(start_app, mock)
    journey = await sign_in(browser, rp)
    callback = journey.find(CALLBACK)
    assert callback.status == 303, callback.text
    assert callback.headers["Location"] == "/private"
    user = json.loads(journey.last.text)
    assert user["id"] == "johndoe"
    assert user["name"] == "John Doe"
    assert user["email"] == "john@example.com"
    assert user["email_verified"] is False
    assert user["username"] == "jdoe"
    assert user["raw"]["https://example.com/role"] == "admin"

    [exchange] = stats(mock)["tokenRequests"]
    assert exchange == {
        "grant_type": "authorization_code",
        "code_verifier": True,  # PKCE even for this confidential client
        "basic_auth": True,
        "client_secret_in_body": False,
    }
    status, called = await browser.json(rp.url("/api/userinfo"))
    assert status == 200 and called["status"] == 200
    assert called["body"]["preferred_username"] == "jdoe"


# ---- failures ---------------------------------------------------------------------------------

HTML_PAGE = "<!doctype html><html><body><h1>502 Bad Gateway</h1><p>nginx</p></body></html>"

#: (behaviour, status the callback must answer, whether the token endpoint may be called)
FAILURES: dict[str, tuple[dict[str, Any], int, bool]] = {
    "token-400-invalid-grant": (
        {"token": {"status": 400, "body": {"error": "invalid_grant"}}},
        401,
        True,
    ),
    "token-401-invalid-client": (  # the site's own client settings: the "misconfigured" page
        {"token": {"status": 401, "body": {"error": "invalid_client"}}},
        502,
        True,
    ),
    "token-500": ({"token": {"status": 500, "body": {"error": "server_error"}}}, 502, True),
    "token-html-200": ({"tokenRaw": {"status": 200, "body": HTML_PAGE}}, 502, True),
    "token-html-502": ({"tokenRaw": {"status": 502, "body": HTML_PAGE}}, 502, True),
    "token-json-string": ({"token": {"body": "not an object"}}, 401, True),
    "token-200-with-error": ({"token": {"merge": {"error": "bad_verification_code"}}}, 401, True),
    "token-without-access-token": ({"token": {"drop": ["access_token"]}}, 401, True),
    "token-type-mac": ({"token": {"merge": {"token_type": "mac"}}}, 401, True),
    "token-without-id-token": ({"token": {"drop": ["id_token"]}}, 401, True),
    "userinfo-401": ({"userinfo": {"status": 401, "body": {"error": "invalid_token"}}}, 401, True),
    "userinfo-500": ({"userinfo": {"status": 500, "body": {"error": "oops"}}}, 502, True),
    "userinfo-other-sub": ({"userinfo": {"body": {"sub": "mallory"}}}, 401, True),
    "access-denied": (
        {"authorize": {"set": {"error": "access_denied"}, "delete": ["code"]}},
        403,
        False,
    ),
    "server-error": (
        {"authorize": {"set": {"error": "server_error"}, "delete": ["code"]}},
        502,
        False,
    ),
    "tampered-state": ({"authorize": {"set": {"state": "A" * 43}}}, 400, False),
    "missing-state": ({"authorize": {"delete": ["state"]}}, 400, False),
    "missing-code": ({"authorize": {"delete": ["code"]}}, 400, False),
    "token-on-the-front-channel": ({"authorize": {"set": {"access_token": "x"}}}, 400, False),
    "foreign-iss": ({"authorize": {"set": {"iss": "http://127.0.0.1:9"}}}, 400, False),
    "id-token-expired": ({"idToken": {"times": {"exp": -120}}}, 401, True),
    "id-token-iat-in-the-future": ({"idToken": {"times": {"iat": 3600}}}, 401, True),
    "id-token-other-audience": ({"idToken": {"claims": {"aud": "someone-else"}}}, 401, True),
    "id-token-other-azp": (
        {"idToken": {"claims": {"aud": [CLIENT_ID, "other"], "azp": "other"}}},
        401,
        True,
    ),
    "id-token-other-issuer": (
        {"idToken": {"claims": {"iss": "http://127.0.0.1:9"}}},
        401,
        True,
    ),
    "id-token-wrong-nonce": ({"idToken": {"claims": {"nonce": "not-the-one"}}}, 401, True),
    "id-token-without-nonce": ({"idToken": {"drop": ["nonce"]}}, 401, True),
    "id-token-without-sub": ({"idToken": {"drop": ["sub"]}}, 401, True),
}


@pytest.mark.parametrize(("behaviour", "status", "exchanges"), FAILURES.values(), ids=FAILURES)
async def test_failure_ends_in_its_status_and_nobody_signed_in(
    mock: Peer,
    start_app: Any,
    browser: Browser,
    behaviour: dict[str, Any],
    status: int,
    exchanges: bool,
) -> None:
    rp = await start_rp(start_app, mock)
    behave(mock, behaviour)
    journey = await sign_in(browser, rp)
    callback = journey.find(CALLBACK)
    assert callback is journey.last
    assert callback.status == status, callback.text
    assert callback.headers["Content-Type"].startswith("text/html")
    assert callback.headers["Cache-Control"] == "no-store"
    assert callback.headers["X-Frame-Options"] == "DENY"
    for leak in ("nginx", "not an object", "bad_verification_code", "mallory", "oops"):
        assert leak not in callback.text  # upstream bodies are never shown
    if status == 403:
        assert "cancelled" in callback.text
    if behaviour == FAILURES["token-401-invalid-client"][0]:
        assert "misconfigured" in callback.text and "Try again" not in callback.text
    seen = stats(mock)["paths"]
    assert ("/token" in seen) is exchanges
    await nobody_signed_in(browser, rp)
    # the same response cannot be replayed: the transaction was consumed
    assert (await browser.request("GET", callback.url)).status == 400
    assert stats(mock)["paths"].get("/token", 0) == seen.get("/token", 0)


async def test_slow_token_endpoint_ends_in_504(
    mock: Peer, start_app: Any, browser: Browser
) -> None:
    rp = await start_rp(start_app, mock, http_timeout=1.0)
    behave(mock, {"tokenDelayMs": 3000})
    journey = await sign_in(browser, rp)
    callback = journey.find(CALLBACK)
    assert callback.status == 504, callback.text
    assert "did not answer in time" in callback.text
    await nobody_signed_in(browser, rp)
