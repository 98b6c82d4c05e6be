"""Failures that explain themselves: every failed callback carries a stable reason code (in the
log line, as ``"reason"`` in JSON and as a short hint on the page), a provider's refusal of the
site's own client settings is a "misconfigured" page without "Try again", and "Try again" keeps
the original ``next`` (errors.REASONS; G2, G13, G19, G21).
"""

from __future__ import annotations

import logging
import re
import string
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

import aiohttp_oauth2_login._clock as plugin_clock
from aiohttp_oauth2_login import errors
from aiohttp_oauth2_login._oauth.protocol import CONFIG_ERRORS
from aiohttp_oauth2_login.errors import REASONS
from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import FAILURE_MODES, FakeProvider, oidc_provider_for

from ..support.app import JSON, KEY, OLD_KEY, Client, FakeFactory, MakeClient, build_app, call_api
from ..support.callbacks import assert_anonymous, begin, clean_logs, deliver, leaked_values
from ..support.html import PageTags

__all__ = ["clean_logs"]  # the autouse log check (no secrets, no control characters)

PACKAGE = Path(errors.__file__).resolve().parent
DOCS = PACKAGE.parent / "docs" / "troubleshooting.md"

#: the reason codes, pinned: applications match on them, so none is ever renamed or dropped
PINNED = frozenset(
    """
    state_missing state_malformed callback_malformed code_missing front_channel_tokens
    tx_missing tx_unknown tx_consumed tx_expired tx_unreadable tx_duplicate tx_other_provider
    host_mismatch unknown_provider iss_mismatch iss_missing
    access_denied provider_refused provider_unavailable
    client_secret client_id unauthorized_client client_suspended redirect_uri scope response_type
    discovery_issuer
    code_rejected token_refused token_invalid token_status token_timeout token_unreachable
    token_not_json token_too_large token_redirect
    id_token_missing id_token_malformed id_token_alg id_token_typ id_token_key id_token_signature
    id_token_iss id_token_aud id_token_expired id_token_iat id_token_nonce id_token_claims
    userinfo_refused userinfo_invalid userinfo_sub userinfo_status userinfo_timeout
    userinfo_unreachable userinfo_not_json userinfo_too_large userinfo_redirect
    discovery_status discovery_invalid discovery_timeout discovery_unreachable discovery_not_json
    discovery_too_large discovery_redirect
    jwks_status jwks_timeout jwks_unreachable jwks_not_json jwks_too_large jwks_redirect
    revocation_timeout revocation_unreachable revocation_not_json revocation_too_large
    revocation_redirect
    email_domain hosted_domain org_membership on_login_refused on_login_error session_too_large
    unexpected
    """.split()
)
PLACEHOLDERS = {"provider", "env", "redirect_uri", "issuer", "public_url", "host"}
#: the kinds of failure ``fetch_json`` explains, and the requests that name them (``source=``)
FETCH_KINDS = ("timeout", "unreachable", "not_json", "too_large", "redirect")


# ---- the table --------------------------------------------------------------------------------


def test_the_reason_codes_are_stable() -> None:
    assert set(REASONS) == PINNED


@pytest.mark.parametrize("code", sorted(PINNED))
def test_each_reason_is_explained(code: str) -> None:
    reason = REASONS[code]
    assert re.fullmatch(r"[a-z][a-z0-9_]*", code)
    assert reason.meaning and reason.check
    assert reason.level in (logging.INFO, logging.WARNING)
    fields = {name for _, name, _, _ in string.Formatter().parse(reason.check) if name}
    assert fields <= PLACEHOLDERS, fields
    filled = reason.check_for(**dict.fromkeys(PLACEHOLDERS, "<x>"))
    assert "{" not in filled and "}" not in filled
    if reason.hint is not None:  # one short English sentence or two, for the visitor
        assert 10 < len(reason.hint) <= 200 and reason.hint.endswith(".")
        assert "{" not in reason.hint and "secret" not in reason.hint.lower()


def test_every_reason_the_package_sets_is_in_the_table() -> None:
    """Every literal ``explain("...")``, ``reason=...`` of the code, and every code of a
    mapping and of ``fetch_json``'s ``source=`` is a key of ``REASONS``."""
    used: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        text = path.read_text()
        used |= set(re.findall(r"\.explain\(\s*\"([a-z0-9_]+)\"", text))
        used |= set(re.findall(r"why = \"([a-z0-9_]+)\"", text))
        used |= set(re.findall(r"\"((?:tx|state)_[a-z_]+)\"", text))
        for source in re.findall(r"source=\"([a-z]+)\"", text):
            used |= {f"{source}_{kind}" for kind in FETCH_KINDS}
    used |= set(CONFIG_ERRORS.values())
    assert used, "the scan found nothing: the pattern is out of date"
    assert used <= set(REASONS), sorted(used - set(REASONS))
    assert {"tx_missing", "token_timeout", "userinfo_not_json", "jwks_redirect"} <= used


def test_the_troubleshooting_page_explains_every_reason() -> None:
    text = DOCS.read_text()
    for code in REASONS:
        assert f"`{code}`" in text, code


def test_a_hint_comes_from_the_table_unless_one_was_given() -> None:
    exc = errors.InvalidState().explain("tx_expired")
    assert exc.reason == "tx_expired" and exc.hint == REASONS["tx_expired"].hint
    exc.explain("tx_consumed")  # a later, better reason replaces the table's hint too
    assert exc.hint == REASONS["tx_consumed"].hint
    own = errors.InvalidState(hint="Ask the front desk.").explain("tx_expired")
    assert own.hint == "Ask the front desk."
    assert errors.ProviderError(reason="token_status").hint == REASONS["token_status"].hint


# ---- helpers ----------------------------------------------------------------------------------


def reasons_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        m.group(1)
        for r in caplog.records
        if r.name == "aiohttp_oauth2_login"
        for m in [re.search(r"sign-in with \S+ failed: reason=([a-z0-9_?]+)", r.getMessage())]
        if m
    ]


async def failed_json(client: Client, resp: aiohttp.ClientResponse, status: int) -> str:
    """The reason of a JSON error answer (and its status)."""
    body = await resp.json()
    assert resp.status == status, body
    assert set(body) == {"error", "error_description", "reason"}
    reason: str = body["reason"]
    assert reason in REASONS
    return reason


def retry_links(text: str) -> list[str]:
    return [url for url in PageTags(text).urls if "/auth/login" in url]


# ---- every failure mode of the fake provider --------------------------------------------------

#: failure mode of the fake → the reason its failed callback must carry
EXPECTED = {
    "token_error": "code_rejected",
    "token_200_error": "code_rejected",  # GitHub's bad_verification_code, with HTTP 200
    "token_500": "token_status",
    "token_html": "token_not_json",
    "token_missing_access_token": "token_invalid",
    "token_wrong_type": "token_invalid",
    "token_not_object": "token_invalid",
    "token_huge": "token_too_large",
    "token_redirect": "token_redirect",
    "token_timeout": "token_timeout",
    "token_trickle": "token_timeout",
    "id_token_missing": "id_token_missing",
    "id_token_alg_none": "id_token_alg",
    "id_token_hs256_pubkey": "id_token_alg",
    "id_token_wrong_aud": "id_token_aud",
    "id_token_multi_aud_no_azp": "id_token_aud",
    "id_token_wrong_azp": "id_token_aud",
    "id_token_wrong_iss": "id_token_iss",
    "id_token_wrong_nonce": "id_token_nonce",
    "id_token_no_nonce": "id_token_nonce",
    "id_token_expired": "id_token_expired",
    "id_token_future_iat": "id_token_iat",
    "id_token_old_iat": "id_token_iat",
    "id_token_no_sub": "id_token_claims",
    "id_token_bad_signature": "id_token_signature",
    "id_token_unknown_kid": "id_token_key",
    "id_token_crit": "id_token_malformed",
    "userinfo_401": "userinfo_refused",
    "userinfo_500": "userinfo_status",
    "userinfo_html": "userinfo_not_json",
    "userinfo_wrong_sub": "userinfo_sub",
    "userinfo_not_object": "userinfo_invalid",
    "iss_mismatch": "iss_mismatch",
    "iss_missing": "iss_missing",
    "deny": "access_denied",
    "implicit_tokens": "front_channel_tokens",
    "jwks_500": "jwks_status",
}
#: modes that do not fail a callback of the OIDC fake (a login start, a refresh, a logout, a
#: token without kid that is fine with one key)
NOT_AT_THE_CALLBACK = ("discovery_", "refresh_", "revoke_", "id_token_no_kid")
CALLBACK_MODES = sorted(m for m in FAILURE_MODES if not m.startswith(NOT_AT_THE_CALLBACK))


@pytest.mark.parametrize("mode", CALLBACK_MODES)
async def test_each_failure_mode_has_its_reason(
    fast_client: Client, fake: FakeProvider, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    fake.fail(mode)
    cb = await begin(fast_client)
    resp = await deliver(fast_client, cb, headers=JSON)
    reason = await failed_json(fast_client, resp, resp.status)
    assert resp.status != 500
    expected = EXPECTED.get(mode)  # a mode added to the fake later: some reason of the table
    assert reason == expected or (expected is None and reason in REASONS), reason
    assert reasons_logged(caplog) == [reason]
    await assert_anonymous(fast_client)


def test_the_expectations_name_real_failure_modes() -> None:
    assert set(EXPECTED) <= set(CALLBACK_MODES)


async def test_the_page_shows_the_hint(client: Client, fake: FakeProvider) -> None:
    fake.fail("token_error")
    cb = await begin(client)
    resp = await deliver(client, cb)
    assert resp.status == 401
    text = await resp.text()
    hint = REASONS["code_rejected"].hint
    assert hint is not None
    assert hint.replace("'", "&#x27;") in text
    assert retry_links(text)  # the visitor's problem: "Try again" is offered


# ---- the login transaction (G2) ---------------------------------------------------------------


async def _reason(client: Client, cb: Any, params: Any = None, **kw: Any) -> str:
    resp = await deliver(client, cb, params, headers=JSON, **kw)
    return await failed_json(client, resp, 400)


async def test_state_missing_or_malformed(client: Client, fake: FakeProvider) -> None:
    cb = await begin(client)
    assert await _reason(client, cb, cb.replaced("state")) == "state_missing"
    assert await _reason(client, cb, cb.replaced("state", "short")) == "state_malformed"
    good = cb.get("state")
    assert await _reason(client, cb, cb.replaced("state", good, good)) == "state_malformed"
    assert await _reason(client, cb, cb.replaced("code", "a", "b")) == "callback_malformed"
    assert await _reason(client, cb, cb.replaced("code")) == "tx_consumed"  # used by the last
    assert fake.calls["token"] == 0


async def test_code_missing(client: Client, fake: FakeProvider) -> None:
    cb = await begin(client)
    assert await _reason(client, cb, cb.replaced("code")) == "code_missing"


async def test_no_transaction_cookie_at_all(
    client: Client, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """The classic: the login started on another host (localhost vs 127.0.0.1), over http for
    an https site, or with cookies blocked. The page lists those causes, the log says what to
    check, at INFO: any visitor can send a callback without a cookie, so it raises no alert."""
    cb = await begin(client)
    client.session.cookie_jar.clear()
    assert await _reason(client, cb) == "tx_missing"
    resp = await deliver(client, cb)
    text = await resp.text()
    assert "localhost instead of 127.0.0.1" in text and "cookies are blocked" in text
    line = [r for r in caplog.records if "reason=tx_missing" in r.getMessage()][-1]
    assert line.levelno == logging.INFO
    assert "localhost and 127.0.0.1 are different sites" in line.getMessage()
    assert "/auth/callback/fake" in line.getMessage()  # the redirect URI in use
    assert fake.calls["token"] == 0


async def test_another_tabs_login_or_an_unknown_state(client: Client, fake: FakeProvider) -> None:
    tabs = [await begin(client) for _ in range(6)]  # the oldest of six is dropped
    assert await _reason(client, tabs[0]) == "tx_unknown"
    assert fake.calls["token"] == 0


async def test_a_replay_is_consumed(client: Client, fake: FakeProvider) -> None:
    cb = await begin(client)
    assert (await deliver(client, cb)).status == 303
    assert await _reason(client, cb) == "tx_consumed"  # back button / reload
    assert fake.calls["token"] == 1


async def test_a_failed_attempt_is_consumed_too(client: Client, fake: FakeProvider) -> None:
    fake.fail("token_500")
    cb = await begin(client)
    assert (await deliver(client, cb)).status == 502
    fake.reset()
    assert await _reason(client, cb) == "tx_consumed"
    assert fake.calls["token"] == 0


async def test_an_expired_transaction(
    client: Client, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    past = SimpleNamespace(time=lambda: time.time() - 601, monotonic=time.monotonic)
    with monkeypatch.context() as patch:
        patch.setattr(plugin_clock, "time", past)
        cb = await begin(client)
    assert await _reason(client, cb) == "tx_expired"
    assert fake.calls["token"] == 0


async def test_an_instance_with_another_secret_key(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    """Two instances behind one name, each with its own secret_key (or an ephemeral one): the
    transaction cookie of one cannot be opened by the other."""
    first = await make_client(secret_key=KEY)
    second = await make_client(secret_key=OLD_KEY)
    cb = await begin(first)
    second.session.cookie_jar.update_cookies(
        first.session.cookie_jar.filter_cookies(first.make_url("/auth/callback/fake"))
    )
    assert await _reason(second, cb) == "tx_unreadable"
    assert fake.calls["token"] == 0


async def test_a_planted_second_cookie(client: Client, fake: FakeProvider) -> None:
    cb = await begin(client)
    url = client.make_url(cb.path)
    cookies = client.session.cookie_jar.filter_cookies(url)
    data = next(name for name in cookies if "-tx-" in name)
    header = "; ".join(f"{k}={m.value}" for k, m in cookies.items())
    header += f"; {data}={cookies[data].value}"  # the same name twice
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as other:
        resp = await other.get(
            client.make_url(cb.url()), headers={**JSON, "Cookie": header}, allow_redirects=False
        )
        assert await failed_json(client, resp, 400) == "tx_duplicate"
    assert fake.calls["token"] == 0


async def test_the_state_of_another_provider(
    make_client: MakeClient, fake: FakeProvider, fake_provider_factory: FakeFactory
) -> None:
    other = await fake_provider_factory(auto_approve=True)
    client = await make_client(
        providers=[oidc_provider_for(fake, name="fake"), oidc_provider_for(other, name="other")]
    )
    cb = await begin(client, "fake", query="?next=/private")
    resp = await deliver(client, cb, path="/auth/callback/other")
    text = await resp.text()
    assert resp.status == 400
    assert retry_links(text) == ["/auth/login/fake?next=/private"]  # the login it belonged to
    cb = await begin(client, "fake")
    assert await _reason(client, cb, path="/auth/callback/other") == "tx_other_provider"


async def test_an_unknown_provider(client: Client, fake: FakeProvider) -> None:
    cb = await begin(client)
    resp = await deliver(client, cb, path="/auth/callback/nope", headers=JSON)
    assert await failed_json(client, resp, 404) == "unknown_provider"


async def test_the_host_differs_from_public_url(
    make_client: MakeClient, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """public_url names localhost, the browser came back to 127.0.0.1 without a transaction:
    ``host_mismatch``, with the public origin to use in the log. With the transaction the login
    works all the same (the Host is never trusted, only reported)."""
    client = await make_client(public_url="http://localhost:8080")
    cb = await begin(client)
    assert (await deliver(client, cb)).status == 303
    cb = await begin(client)
    client.session.cookie_jar.clear()
    assert await _reason(client, cb) == "host_mismatch"
    line = [r.getMessage() for r in caplog.records if "reason=host_mismatch" in r.getMessage()]
    assert "open the app at http://localhost:8080" in line[-1]
    assert (await deliver(client, cb)).status == 400


# ---- refusals ---------------------------------------------------------------------------------


async def test_email_domain_and_on_login_refusals(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    client = await make_client(allowed_email_domains=["example.org"])
    cb = await begin(client)
    resp = await deliver(client, cb, headers=JSON)
    assert await failed_json(client, resp, 403) == "email_domain"

    async def broken(request: Any, user: Any, token: Any) -> None:
        raise RuntimeError("the app's bug")

    client = await make_client(on_login=broken)
    cb = await begin(client)
    resp = await deliver(client, cb, headers=JSON)
    assert await failed_json(client, resp, 403) == "on_login_error"


# ---- misconfiguration -------------------------------------------------------------------------


async def test_a_wrong_client_secret_is_a_misconfigured_page(
    make_client: MakeClient, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """The fake answers ``invalid_client`` (401): not "Sign-in could not be verified" with a
    "Try again" that can never work, but the misconfigured page (502), and one WARNING line with
    the provider's own words and the setting to check."""
    wrong = OIDCProvider(
        name="fake", issuer=fake.issuer, client_id=fake.client_id, client_secret="not-the-secret"
    )
    client = await make_client(providers=[wrong])
    cb = await begin(client)
    resp = await deliver(client, cb)
    text = await resp.text()
    assert resp.status == 502
    assert "sign-in is misconfigured" in text
    assert retry_links(text) == []  # retrying cannot help
    assert "not-the-secret" not in text
    lines = [r for r in caplog.records if r.levelno == logging.WARNING]
    said = [r.getMessage() for r in lines if "error=invalid_client" in r.getMessage()]
    assert len(said) == 1
    assert "code exchange refused by fake" in said[0]
    assert "description='client authentication failed'" in said[0]
    assert "reason=client_secret" in said[0] and "FAKE_CLIENT_SECRET" in said[0]
    assert reasons_logged(caplog) == ["client_secret"]
    assert "not-the-secret" not in caplog.text
    for secret in leaked_values(fake, cb):
        assert secret not in caplog.text
    cb = await begin(client)
    resp = await deliver(client, cb, headers=JSON)
    assert await failed_json(client, resp, 502) == "client_secret"
    assert (await resp.json())["error"] == "server_error"
    await assert_anonymous(client)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        ("unauthorized_client", "unauthorized_client"),
        ("invalid_client", "client_id"),
        ("invalid_scope", "scope"),
        ("unsupported_response_type", "response_type"),
        ("redirect_uri_mismatch", "redirect_uri"),
        ("application_suspended", "client_suspended"),
    ],
)
async def test_configuration_errors_on_the_callback(
    client: Client,
    fake: FakeProvider,
    caplog: pytest.LogCaptureFixture,
    error: str,
    reason: str,
) -> None:
    cb = await begin(client, query="?next=/private")
    params = [(k, v) for k, v in cb.params if k in ("state", "iss")] + [("error", error)]
    resp = await deliver(client, cb, params)
    text = await resp.text()
    assert resp.status == 502, text
    assert "sign-in is misconfigured" in text and retry_links(text) == []
    line = [r.getMessage() for r in caplog.records if f"reason={reason}" in r.getMessage()]
    assert len(line) == 1 and "check: " in line[0]
    if reason == "redirect_uri":  # the exact URI to register, as the plugin sent it
        assert str(client.make_url("/auth/callback/fake")) in line[0]
    assert f"error={error}" in caplog.text  # the provider's code, never its description
    assert fake.calls["token"] == 0


# ---- "Try again" keeps the original next ------------------------------------------------------


async def test_try_again_keeps_the_original_next(client: Client, fake: FakeProvider) -> None:
    fake.fail("token_500")
    cb = await begin(client, query="?next=/private%3Fpage%3D2")
    resp = await deliver(client, cb)
    assert resp.status == 502
    assert retry_links(await resp.text()) == ["/auth/login/fake?next=/private?page%3D2"]
    fake.reset()
    again = await client.get(retry_links(await resp.text())[0], allow_redirects=True)
    assert again.status == 200
    assert str(again.url).endswith("/private?page=2")


async def test_try_again_without_a_transaction_uses_the_default(
    client: Client, fake: FakeProvider
) -> None:
    cb = await begin(client, query="?next=/private")
    client.session.cookie_jar.clear()
    resp = await deliver(client, cb)
    assert retry_links(await resp.text()) == ["/auth/login/fake"]


async def test_try_again_never_carries_an_unsafe_next(client: Client, fake: FakeProvider) -> None:
    fake.fail("token_500")
    cb = await begin(client, query="?next=//evil.example/x")
    resp = await deliver(client, cb)
    assert retry_links(await resp.text()) == ["/auth/login/fake"]


async def test_a_refresh_refused_for_the_client_secret_is_misconfigured(
    aiohttp_client: Any, fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """The secret changed while users were signed in: their next refresh is refused with
    ``invalid_client``. Not "sign in again" (that fails the same way): the misconfigured page,
    and the WARNING line that names the setting."""
    provider = oidc_provider_for(fake)
    app = build_app([provider])
    app.router.add_get("/call", call_api)
    client = await aiohttp_client(app)
    assert (await deliver(client, await begin(client))).status == 303
    provider.client_secret = "rotated-away"
    fake.expire_access_tokens()  # the API answers 401: the client refreshes once
    resp = await client.get("/call", headers=JSON)
    body = await resp.json()
    assert resp.status == 502 and body["reason"] == "client_secret", body
    line = next(r.getMessage() for r in caplog.records if "refresh refused" in r.getMessage())
    assert "error=invalid_client" in line and "FAKE_CLIENT_SECRET" in line
    assert "rotated-away" not in caplog.text
