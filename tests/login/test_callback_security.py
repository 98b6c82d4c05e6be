"""The callback against a hostile or broken provider and hostile visitors (G1-G8, G13, G14,
G20, G21).

Every failure test drives the flow like a browser (login route → fake provider's authorize
endpoint → callback), tampers with the callback, and then checks the contract in the README's
Routes section: the status code, a safe error page, nobody logged in, no token stored, and (when
the state is wrong) no request to the token endpoint.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import unicodedata
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

import aiohttp_oauth2_login._clock as plugin_clock
from aiohttp_oauth2_login.errors import REASONS, ConfigurationError
from aiohttp_oauth2_login.testing import (
    FAILURE_MODES,
    FakeProvider,
    login_flow,
    oidc_provider_for,
)

from ..support.app import JSON, Client, FakeFactory, MakeClient
from ..support.callbacks import (
    Callback,
    assert_anonymous,
    begin,
    clean_logs,
    deliver,
    leaked_values,
)
from ..support.html import PageTags

__all__ = ["clean_logs"]  # the autouse log check (no secrets, no control characters)

#: text only the fake provider's answers contain; it must never be reflected by the plugin
UPSTREAM_TEXT = (
    "failure mode",
    "Something went wrong",
    "incorrect or expired",
    "docs.github.com",
    "Down for maintenance",
    "Your profile",
    "someone-else",
    "evil.example",
)


# ---- helpers --------------------------------------------------------------------------------


def provider_calls(fake: FakeProvider) -> dict[str, int]:
    """A copy of the fake provider's request counters (compare before/after a callback)."""
    return {k: v for k, v in fake.calls.items() if v}


def check_security_headers(resp: aiohttp.ClientResponse) -> None:
    headers = resp.headers
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"


async def assert_error_page(
    resp: aiohttp.ClientResponse,
    status: int,
    *,
    leaks: Sequence[str] = (),
    upstream: bool = True,
) -> str:
    """An HTML error page with ``status``: framing-proof, uncached, self-contained, no secrets."""
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "text/html"
    check_security_headers(resp)
    lowered = text.lower()
    assert "<script" not in lowered
    assert "@import" not in lowered and "url(" not in lowered
    parsed = PageTags(text)
    assert not {"script", "iframe", "img", "object", "embed", "link", "base"} & set(parsed.tags)
    for url in parsed.urls:  # only this site's own paths: no other origin, no scheme
        assert url.startswith("/") and not url.startswith("//"), url
    for value in leaks:
        assert value not in text
    if upstream:
        for fragment in UPSTREAM_TEXT:
            assert fragment not in text
    return text


async def assert_error_json(
    resp: aiohttp.ClientResponse, status: int, error: str, *, leaks: Sequence[str] = ()
) -> dict[str, Any]:
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    assert set(body) in ({"error", "error_description"}, {"error", "error_description", "reason"})
    assert body.get("reason", "tx_missing") in REASONS  # a stable code of the table
    assert body["error"] == error
    assert isinstance(body["error_description"], str) and body["error_description"]
    for value in leaks:
        assert value not in text
    for fragment in UPSTREAM_TEXT:
        assert fragment not in text
    return dict(body)


# ---- state (G2, G13) ------------------------------------------------------------

STATE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _valid_looking() -> str:
    return "".join(secrets.choice(STATE_CHARS) for _ in range(43))


BAD_STATES: dict[str, Callable[[str], list[str]]] = {
    "missing": lambda good: [],
    "empty": lambda good: [""],
    "duplicated": lambda good: [good, good],
    "duplicated_other_first": lambda good: [_valid_looking(), good],
    "too_short": lambda good: [good[:42]],
    "too_long": lambda good: [good + "A"],
    "padded": lambda good: [good + "="],
    "not_base64url_plus": lambda good: ["+" + good[1:]],
    "not_base64url_slash": lambda good: [good[:42] + "/"],
    "not_base64url_dot": lambda good: ["." + good[1:]],
    "space": lambda good: [good[:20] + " " + good[21:]],
    "unicode": lambda good: ["é" + good[1:]],
    "fullwidth": lambda good: [unicodedata.lookup("FULLWIDTH LATIN CAPITAL LETTER A") + good[1:]],
    "nul": lambda good: [good[:42] + "\x00"],
    "newline": lambda good: [good[:21] + "\r\n" + good[21:]],
    "escape_sequence": lambda good: ["\x1b[31m" + good[5:]],
    "del": lambda good: [good[:42] + "\x7f"],
    "five_kb": lambda good: [good * 120],
    "ten_kb": lambda good: ["A" * 10_240],
}


@pytest.mark.parametrize("name", list(BAD_STATES))
async def test_bad_state_is_400_and_never_reaches_the_provider(
    client: Client, fake: FakeProvider, name: str
) -> None:
    cb = await begin(client)
    before = provider_calls(fake)
    good = cb.get("state")
    resp = await deliver(client, cb, cb.replaced("state", *BAD_STATES[name](good)))
    assert resp.status == 400
    if name != "ten_kb":  # 10 KB exceeds aiohttp's request line limit: its own plain 400
        await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0
    assert provider_calls(fake) == before  # not even discovery, JWKS or userinfo
    await assert_anonymous(client)


async def test_invalid_percent_encoding_in_state_is_400(client: Client, fake: FakeProvider) -> None:
    cb = await begin(client)
    before = provider_calls(fake)
    raw = urlencode(cb.replaced("state")) + "&state=%ZZ%C3%28%FF" + "A" * 35
    resp = await deliver(client, cb, raw_query=raw)
    await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert provider_calls(fake) == before
    await assert_anonymous(client)


async def test_unknown_state_is_400(client: Client, fake: FakeProvider) -> None:
    cb = await begin(client)
    before = provider_calls(fake)
    resp = await deliver(client, cb, cb.replaced("state", _valid_looking()))
    text = await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert "start again" in text
    assert fake.calls["token"] == 0
    assert provider_calls(fake) == before
    await assert_anonymous(client)


async def test_unknown_state_json(client: Client, fake: FakeProvider) -> None:
    cb = await begin(client)
    resp = await deliver(client, cb, cb.replaced("state", _valid_looking()), headers=JSON)
    await assert_error_json(resp, 400, "invalid_state", leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0


async def test_replayed_callback_is_400_and_redeems_the_code_once(
    client: Client, fake: FakeProvider
) -> None:
    cb = await begin(client)
    first = await deliver(client, cb)
    assert first.status == 303
    before = provider_calls(fake)
    replay = await deliver(client, cb)
    await assert_error_page(replay, 400, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 1
    assert provider_calls(fake) == before
    # the replay changed nothing for the login that succeeded
    page = await client.get("/private", headers=JSON)
    assert (await page.json())["id"] == "alice"


@pytest.mark.parametrize(
    ("age", "status"),
    [
        pytest.param(590, 303, id="fresh-enough"),
        pytest.param(601, 400, id="expired"),
        pytest.param(3600, 400, id="long-expired"),
        pytest.param(-30, 400, id="created-in-the-future"),
    ],
)
async def test_transaction_lifetime(
    client: Client, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch, age: int, status: int
) -> None:
    """A transaction lives 10 minutes from its creation (G2)."""
    past = SimpleNamespace(time=lambda: time.time() - age, monotonic=time.monotonic)
    with monkeypatch.context() as patch:
        patch.setattr(plugin_clock, "time", past)
        cb = await begin(client)
    before = provider_calls(fake)
    resp = await deliver(client, cb)
    if status == 303:
        assert resp.status == 303
        return
    await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0
    assert provider_calls(fake) == before
    await assert_anonymous(client)


async def test_foreign_browser_cannot_use_the_callback(client: Client, fake: FakeProvider) -> None:
    victim = await begin(client)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        await begin(client, http=other)  # the attacker has a live transaction of their own
        before = provider_calls(fake)
        resp = await other.get(client.make_url(victim.url()), allow_redirects=False)
        await assert_error_page(resp, 400, leaks=leaked_values(fake, victim))
        assert fake.calls["token"] == 0
        assert provider_calls(fake) == before
        await assert_anonymous(client, other)
    # the attempt did not consume the victim's transaction
    assert (await deliver(client, victim)).status == 303


async def test_callback_without_any_session_is_400(client: Client, fake: FakeProvider) -> None:
    cb = await begin(client)
    client.session.cookie_jar.clear()
    before = provider_calls(fake)
    resp = await deliver(client, cb)
    await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0
    assert provider_calls(fake) == before
    await assert_anonymous(client)


async def test_callback_of_another_provider_is_400_and_consumes_the_transaction(
    make_client: MakeClient, fake: FakeProvider, fake_provider_factory: FakeFactory
) -> None:
    other = await fake_provider_factory(auto_approve=True)
    client = await make_client(
        providers=[oidc_provider_for(fake, name="fake"), oidc_provider_for(other, name="other")]
    )
    cb = await begin(client, "fake")
    before = provider_calls(fake), provider_calls(other)
    resp = await deliver(client, cb, path="/auth/callback/other")
    text = await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert "another provider" in text
    right = await deliver(client, cb)
    await assert_error_page(right, 400, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0
    assert other.calls["token"] == 0
    assert (provider_calls(fake), provider_calls(other)) == before
    await assert_anonymous(client)


async def test_unknown_provider_callback_is_404(client: Client, fake: FakeProvider) -> None:
    cb = await begin(client)
    resp = await deliver(client, cb, path="/auth/callback/nope")
    await assert_error_page(resp, 404, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0
    assert (await deliver(client, cb)).status == 303


@pytest.mark.parametrize(
    ("mode", "status"),
    [
        ("token_error", 401),
        ("token_500", 502),
        ("iss_mismatch", 400),
        ("deny", 403),
        ("id_token_bad_signature", 401),
        ("id_token_wrong_nonce", 401),
        ("userinfo_500", 502),
    ],
)
async def test_transaction_is_consumed_when_the_callback_fails(
    client: Client, fake: FakeProvider, mode: str, status: int
) -> None:
    """G2: the failed attempt's state can never be replayed."""
    fake.fail(mode)
    cb = await begin(client)
    first = await deliver(client, cb)
    leaks = leaked_values(fake, cb)
    # deny: the provider's error_description is shown (sanitised, escaped; G13)
    await assert_error_page(first, status, leaks=leaks, upstream=mode != "deny")
    fake.reset()
    replay = await deliver(client, cb, cb.replaced("iss", fake.issuer))  # a repaired callback
    await assert_error_page(replay, 400, leaks=leaks)
    assert provider_calls(fake) == {}  # not even the token endpoint
    await assert_anonymous(client)


# ---- several live transactions (tabs) -------------------------------------------------------


async def test_at_most_five_live_transactions(client: Client, fake: FakeProvider) -> None:
    callbacks = [await begin(client) for _ in range(6)]
    before = provider_calls(fake)
    oldest = await deliver(client, callbacks[0])
    await assert_error_page(oldest, 400, leaks=leaked_values(fake, *callbacks))
    assert fake.calls["token"] == 0
    assert provider_calls(fake) == before
    await assert_anonymous(client)
    for cb in callbacks[1:]:
        assert (await deliver(client, cb)).status == 303
    assert fake.calls["token"] == 5


async def test_two_tabs_complete_in_reverse_order(client: Client, fake: FakeProvider) -> None:
    tab1 = await begin(client, query="?next=/one")
    tab2 = await begin(client, query="?next=/two")
    second = await deliver(client, tab2)
    assert second.status == 303
    assert second.headers["Location"] == "/two"
    first = await deliver(client, tab1)
    assert first.status == 303
    assert first.headers["Location"] == "/one"
    assert fake.calls["token"] == 2


# ---- RFC 9207 iss (G5) ----------------------------------------------------------


async def test_iss_mismatch_is_400_before_code_redemption(
    client: Client, fake: FakeProvider
) -> None:
    fake.fail("iss_mismatch")
    cb = await begin(client)
    resp = await deliver(client, cb)
    await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0
    await assert_anonymous(client)


async def test_iss_missing_is_400_when_discovery_promises_it(
    client: Client, fake: FakeProvider
) -> None:
    fake.fail("iss_missing")
    cb = await begin(client)
    assert "iss" not in dict(cb.params)
    resp = await deliver(client, cb)
    await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0
    await assert_anonymous(client)


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(lambda iss: [iss, iss], id="duplicated"),
        pytest.param(lambda iss: [iss, "https://evil.example"], id="duplicated-evil-second"),
        pytest.param(lambda iss: [iss + "/"], id="trailing-slash"),
        pytest.param(lambda iss: [iss.upper()], id="case"),
        pytest.param(lambda iss: [""], id="empty"),
        pytest.param(lambda iss: [iss + "\x00"], id="nul"),
    ],
)
async def test_iss_must_be_one_exact_value(
    client: Client, fake: FakeProvider, values: Callable[[str], list[str]]
) -> None:
    cb = await begin(client)
    resp = await deliver(client, cb, cb.replaced("iss", *values(cb.get("iss"))))
    await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0
    await assert_anonymous(client)


async def test_iss_may_be_absent_when_the_provider_is_known_not_to_send_it(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    client = await make_client(providers=[oidc_provider_for(fake, iss_parameter_supported=False)])
    fake.fail("iss_missing")
    assert (await deliver(client, await begin(client))).status == 303
    # ... but a present, different iss is still refused
    fake.reset()
    cb = await begin(client)
    resp = await deliver(client, cb, cb.replaced("iss", "https://evil.example"))
    await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0


async def test_two_providers_may_not_share_an_issuer(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    with pytest.raises(ConfigurationError, match="share the issuer"):
        await make_client(
            providers=[oidc_provider_for(fake, name="one"), oidc_provider_for(fake, name="two")]
        )


# ---- error responses from the provider (G13) -------------------------------------


async def test_access_denied_is_403_cancelled(client: Client, fake: FakeProvider) -> None:
    fake.fail("deny")
    cb = await begin(client)
    assert cb.get("error") == "access_denied"
    resp = await deliver(client, cb)
    # the provider's error_description is the one upstream text shown, labelled and escaped
    text = await assert_error_page(resp, 403, leaks=leaked_values(fake, cb), upstream=False)
    assert "cancelled" in text
    assert "said: \u201cThe user denied the request (failure mode &#x27;deny&#x27;).\u201d" in text
    assert fake.calls["token"] == 0
    await assert_anonymous(client)


async def test_access_denied_json(client: Client, fake: FakeProvider) -> None:
    fake.fail("deny")
    cb = await begin(client)
    resp = await deliver(client, cb, headers=JSON)
    body = await assert_error_json(resp, 403, "access_denied", leaks=leaked_values(fake, cb))
    assert "cancelled" in body["error_description"]


async def test_access_denied_with_unknown_state_is_400(client: Client, fake: FakeProvider) -> None:
    fake.fail("deny")
    cb = await begin(client)
    resp = await deliver(client, cb, cb.replaced("state", _valid_looking()))
    await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))


def _error_callback(cb: Callback, **params: str) -> list[tuple[str, str]]:
    """The callback turned into an error response (no code) with ``params``."""
    kept = [(k, v) for k, v in cb.params if k in ("state", "iss")]
    return kept + list(params.items())


async def test_known_error_code_is_400_and_named(client: Client, fake: FakeProvider) -> None:
    """(Codes that name this site's own settings, like ``invalid_scope``, are a 502
    "misconfigured" page instead: tests/login/test_explained_failures.py.)"""
    cb = await begin(client)
    resp = await deliver(client, cb, _error_callback(cb, error="invalid_request"))
    text = await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert "invalid_request" in text
    assert fake.calls["token"] == 0
    await assert_anonymous(client)


@pytest.mark.parametrize("error", ["evil_<b>thing</b>", "totally_made_up", "x" * 300])
async def test_unknown_error_code_is_generic(
    client: Client, fake: FakeProvider, error: str
) -> None:
    cb = await begin(client)
    resp = await deliver(client, cb, _error_callback(cb, error=error))
    text = await assert_error_page(resp, 400, leaks=[*leaked_values(fake, cb), error])
    assert "<b>" not in text
    assert fake.calls["token"] == 0
    await assert_anonymous(client)
    cb = await begin(client)
    resp = await deliver(client, cb, _error_callback(cb, error=error), headers=JSON)
    body = await assert_error_json(resp, 400, "invalid_request")
    assert error not in body["error_description"]


async def test_error_description_is_escaped_and_truncated(
    client: Client, fake: FakeProvider
) -> None:
    description = "<script>alert(1)</script><img src=x onerror=alert(2)>" + "Z" * 1000
    cb = await begin(client)
    params = _error_callback(cb, error="invalid_request", error_description=description)
    resp = await deliver(client, cb, params)
    text = await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert "&lt;script&gt;" in text
    assert "<img" not in text
    assert "Z" * 100 in text  # shown, but not all of it
    assert "Z" * 300 not in text
    assert fake.calls["token"] == 0
    await assert_anonymous(client)


async def test_error_uri_is_never_rendered_as_a_link(client: Client, fake: FakeProvider) -> None:
    cb = await begin(client)
    evil = "https://phish.example/reset-your-password"
    params = _error_callback(cb, error="invalid_request", error_uri=evil)
    resp = await deliver(client, cb, params)
    text = await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert "phish.example" not in text
    assert fake.calls["token"] == 0


async def test_error_without_code_or_error_is_400(client: Client, fake: FakeProvider) -> None:
    cb = await begin(client)
    resp = await deliver(client, cb, cb.replaced("code"))
    await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0
    await assert_anonymous(client)


# ---- malformed code (G13) and front-channel tokens (G1) ---------------


@pytest.mark.parametrize(
    "values",
    [
        pytest.param(lambda code: [code, code], id="duplicated"),
        pytest.param(lambda code: [code + "\x00"], id="nul"),
        pytest.param(lambda code: [code + "\n"], id="newline"),
        pytest.param(lambda code: ["é" + code], id="unicode"),
        pytest.param(lambda code: ["c" * 5000], id="oversized"),
    ],
)
async def test_malformed_code_is_400_and_not_redeemed(
    client: Client, fake: FakeProvider, values: Callable[[str], list[str]]
) -> None:
    cb = await begin(client)
    resp = await deliver(client, cb, cb.replaced("code", *values(cb.get("code"))))
    await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0
    await assert_anonymous(client)
    fake.reset()
    assert (await deliver(client, cb)).status == 400  # consumed all the same


async def test_front_channel_tokens_are_rejected(client: Client, fake: FakeProvider) -> None:
    fake.fail("implicit_tokens")
    cb = await begin(client)
    assert "access_token" in dict(cb.params)
    resp = await deliver(client, cb)
    await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0
    assert fake.calls["userinfo"] == 0
    await assert_anonymous(client)


@pytest.mark.parametrize("name", ["access_token", "id_token", "token"])
async def test_any_token_parameter_on_the_callback_is_rejected(
    client: Client, fake: FakeProvider, name: str
) -> None:
    cb = await begin(client)
    resp = await deliver(client, cb, [*cb.params, (name, "injected-" + secrets.token_hex(8))])
    await assert_error_page(resp, 400, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 0
    await assert_anonymous(client)


# ---- the token endpoint (G6; RFC 6749 §5.1) -------------------------------------------------

TOKEN_MODES = [
    ("token_error", 401),
    ("token_500", 502),
    ("token_html", 502),
    ("token_200_error", 401),
    ("token_missing_access_token", 401),
    ("token_wrong_type", 401),
    ("token_not_object", 401),
    ("token_huge", 502),
    ("token_redirect", 502),
    ("token_timeout", 504),
    ("token_trickle", 504),
]


@pytest.mark.parametrize(("mode", "status"), TOKEN_MODES)
async def test_token_endpoint_failures(
    fast_client: Client, fake: FakeProvider, mode: str, status: int
) -> None:
    fake.fail(mode)
    cb = await begin(fast_client)
    resp = await deliver(fast_client, cb)
    await assert_error_page(resp, status, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 1
    assert fake.calls["redirect_target"] == 0  # a redirect is never followed
    assert fake.calls["userinfo"] == 0
    await assert_anonymous(fast_client)


async def test_slow_token_endpoint_does_not_stall_other_requests(
    fast_client: Client, fake: FakeProvider
) -> None:
    fake.fail("token_timeout")
    cb = await begin(fast_client)
    slow = asyncio.ensure_future(deliver(fast_client, cb))

    async def exchange_started() -> None:
        while fake.calls["token"] == 0:
            await asyncio.sleep(0.01)

    await asyncio.wait_for(exchange_started(), 0.4)  # the code exchange is under way, hanging
    quick = await fast_client.get("/", headers=JSON)
    assert quick.status == 200
    assert not slow.done()
    resp = await slow
    await assert_error_page(resp, 504, leaks=leaked_values(fake, cb))


# ---- userinfo (OIDC Core §5.3.2) --------------------------------------------------------------

USERINFO_MODES = [
    ("userinfo_401", 401),
    ("userinfo_500", 502),
    ("userinfo_html", 502),
    ("userinfo_wrong_sub", 401),
    ("userinfo_not_object", 401),
]


@pytest.mark.parametrize(("mode", "status"), USERINFO_MODES)
async def test_userinfo_failures(
    client: Client, fake: FakeProvider, mode: str, status: int
) -> None:
    fake.fail(mode)
    cb = await begin(client)
    resp = await deliver(client, cb)
    await assert_error_page(resp, status, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 1
    assert fake.calls["userinfo"] == 1
    await assert_anonymous(client)


# ---- ID tokens end to end (G4, G7) --------------------------------------------

#: every ID token failure mode; a kid-less token is fine while exactly one key fits (tested below)
ID_TOKEN_MODES = sorted(
    m for m in FAILURE_MODES if m.startswith("id_token_") and m != "id_token_no_kid"
)


@pytest.mark.parametrize("mode", ID_TOKEN_MODES)
async def test_id_token_failures(client: Client, fake: FakeProvider, mode: str) -> None:
    fake.fail(mode)
    cb = await begin(client)
    resp = await deliver(client, cb)
    await assert_error_page(resp, 401, leaks=leaked_values(fake, cb))
    assert fake.calls["token"] == 1
    assert fake.calls["userinfo"] == 0  # the ID token is checked before any token is used
    await assert_anonymous(client)


async def test_kid_less_id_token_accepted_with_exactly_one_key(
    client: Client, fake: FakeProvider
) -> None:
    fake.fail("id_token_no_kid")
    resp = await login_flow(client)
    assert resp.status == 303


async def test_kid_less_id_token_refused_with_two_keys(client: Client, fake: FakeProvider) -> None:
    fake.rotate_keys()
    fake.rotate_keys()  # two RSA keys published, the token names neither
    fake.fail("id_token_no_kid")
    cb = await begin(client)
    resp = await deliver(client, cb)
    await assert_error_page(resp, 401, leaks=leaked_values(fake, cb))
    await assert_anonymous(client)


async def test_key_rotation_refetches_the_jwks_once(client: Client, fake: FakeProvider) -> None:
    """OpenID RP conformance ``rp-key-rotation-op-sign-key``."""
    assert (await login_flow(client)).status == 303
    fetched = fake.calls["jwks"]
    assert fetched == 1
    fake.rotate_keys()
    client.session.cookie_jar.clear()
    resp = await login_flow(client)
    assert resp.status == 303, await resp.text()
    assert fake.calls["jwks"] == fetched + 1


async def test_unknown_kid_is_401_and_does_not_hammer_the_jwks(
    client: Client, fake: FakeProvider
) -> None:
    fake.fail("id_token_unknown_kid")
    for _ in range(3):
        cb = await begin(client)
        resp = await deliver(client, cb)
        await assert_error_page(resp, 401, leaks=leaked_values(fake, cb))
    assert fake.calls["jwks"] <= 2  # the initial fetch and at most one refetch
    await assert_anonymous(client)


async def test_jwks_500_is_502(client: Client, fake: FakeProvider) -> None:
    fake.fail("jwks_500")
    cb = await begin(client)
    resp = await deliver(client, cb)
    await assert_error_page(resp, 502, leaks=leaked_values(fake, cb))
    await assert_anonymous(client)
    fake.reset()  # a failed JWKS fetch is not cached as "no keys"
    assert (await login_flow(client)).status == 303


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("discovery_wrong_issuer", "server_error"),  # the site's issuer= is wrong: misconfigured
        ("discovery_500", "temporarily_unavailable"),
        ("discovery_html", "temporarily_unavailable"),
    ],
)
async def test_discovery_failures_are_502_at_login_start(
    client: Client, fake: FakeProvider, mode: str, error: str
) -> None:
    fake.fail(mode)
    resp = await client.get("/auth/login/fake", allow_redirects=False)
    await assert_error_page(resp, 502, leaks=leaked_values(fake))
    assert "Location" not in resp.headers
    assert fake.calls["authorize"] == 0
    json_resp = await client.get("/auth/login/fake", allow_redirects=False, headers=JSON)
    await assert_error_json(json_resp, 502, error)
    await assert_anonymous(client)
    fake.reset()  # a failed discovery is not cached: the provider recovers
    assert (await login_flow(client)).status == 303


# ---- JSON error answers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "status", "error"),
    [
        ("iss_mismatch", 400, "invalid_issuer"),
        ("implicit_tokens", 400, "invalid_request"),
        ("token_error", 401, "invalid_grant"),
        ("token_html", 502, "temporarily_unavailable"),
        ("id_token_wrong_nonce", 401, "invalid_token"),
        ("userinfo_wrong_sub", 401, "invalid_grant"),
    ],
)
async def test_error_answers_are_json_for_api_clients(
    client: Client, fake: FakeProvider, mode: str, status: int, error: str
) -> None:
    fake.fail(mode)
    cb = await begin(client)
    resp = await deliver(client, cb, headers=JSON)
    await assert_error_json(resp, status, error, leaks=leaked_values(fake, cb))
    await assert_anonymous(client)
