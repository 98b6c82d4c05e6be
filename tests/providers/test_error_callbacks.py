"""Provider error callbacks as real providers send them (G13; RFC 6749 §4.1.2.1).

The recorded query strings of ``tests/data/<provider>/error_callbacks.json`` (see the README
there) are delivered to the callback of a real login: the state comes from the login the test
started, everything else is the provider's documented text byte for byte (``+`` and ``%20`` for
spaces, ``%0d%0a`` between Microsoft Entra ID's lines). The status follows ``error`` alone:
``access_denied`` is the 403 "cancelled" page, ``server_error``/``temporarily_unavailable`` the
502 provider page, a code that names this site's own client settings (``invalid_scope``,
``unauthorized_client``, GitHub's ``redirect_uri_mismatch`` ...) the 502 "misconfigured" page
without "Try again", every other code the 400 page (named when RFC 6749 §4.1.2.1 defines it). The
``error_description`` is display-only: shown sanitised (no control characters, one space for any
run of white space, cut with an ellipsis) and escaped, never a reason to refuse, never logged;
``error_uri`` is never shown. ``state``, ``code``, ``iss`` and ``error`` stay strict.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, quote, unquote_plus, urlsplit

import pytest
from yarl import URL

from aiohttp_oauth2_login.testing import FakeProvider, oidc_provider_for

from ..support.app import CONTROL as _CONTROL
from ..support.app import JSON, Client, MakeClient
from ..support.html import PageTags
from ._recorded import DATA, load

PROVIDERS = ("entra", "okta", "auth0", "keycloak", "google", "github")
RECORDED = [
    pytest.param(provider, name, query, id=f"{provider}-{name}")
    for provider in PROVIDERS
    for name, query in load(provider, "error_callbacks").items()
]
#: RFC 6749 §4.1.2.1 codes other than access_denied and the two temporary ones: named on a 400
NAMED_400 = {"invalid_request"}
#: codes that name the site's own settings: 502 "misconfigured", with the reason code of each
MISCONFIGURED = {
    "invalid_client": "client_id",
    "unauthorized_client": "unauthorized_client",
    "unsupported_response_type": "response_type",
    "invalid_scope": "scope",
    "redirect_uri_mismatch": "redirect_uri",
    "application_suspended": "client_suspended",
}
#: how much of a description a page may show, at most (the plugin's bound is below this)
SHOWN_AT_MOST = 400


def expected_status(error: str) -> int:
    if error == "access_denied":
        return 403
    if error in ("server_error", "temporarily_unavailable") or error in MISCONFIGURED:
        return 502
    return 400


def expected_code(error: str) -> str:
    """The ``error`` of the plugin's JSON answer."""
    if error in ("access_denied", "server_error", "temporarily_unavailable"):
        return error
    if error in MISCONFIGURED:
        return "server_error"
    return error if error in NAMED_400 else "invalid_request"


def expected_reason(error: str) -> str:
    """The ``reason`` of the plugin's JSON answer (errors.REASONS)."""
    if error == "access_denied":
        return "access_denied"
    if error in ("server_error", "temporarily_unavailable"):
        return "provider_unavailable"
    return MISCONFIGURED.get(error, "provider_refused")


def shown(description: str) -> str:
    """How a short, well-formed description is expected on the page: each run of white space
    (CR/LF included) one space. An independent oracle: the plugin's own helper is not used."""
    return " ".join(description.split())


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)  # every logger, the plugin's included
    yield caplog


@pytest.fixture
async def client(make_client: MakeClient, fake: FakeProvider) -> Client:
    """The fake provider set up like most of these providers: no RFC 9207 ``iss`` promised
    (a present ``iss`` must still be the issuer)."""
    return await make_client(providers=[oidc_provider_for(fake, iss_parameter_supported=False)])


async def start_login(client: Client) -> str:
    """A real login start: the ``state`` of the transaction the browser now holds."""
    resp = await client.get("/auth/login/fake", allow_redirects=False)
    assert resp.status == 302, await resp.text()
    query = dict(parse_qsl(urlsplit(resp.headers["Location"]).query))
    return query["state"]


def with_login(recorded: str, state: str, issuer: str) -> str:
    """The recorded query with the sample ``state`` (and ``iss``) of the documentation replaced
    by the real ones; every other byte as recorded. A missing ``state`` is appended."""
    pairs = recorded.split("&")
    names = [pair.split("=", 1)[0] for pair in pairs]
    out = []
    for name, pair in zip(names, pairs, strict=True):
        if name == "state":
            pair = f"state={state}"
        elif name == "iss":
            pair = "iss=" + quote(issuer, safe="")
        out.append(pair)
    if "state" not in names:
        out.append(f"state={state}")
    return "&".join(out)


async def deliver(client: Client, query: str, *, headers: dict[str, str] | None = None) -> Any:
    url = URL(f"/auth/callback/fake?{query}", encoded=True)
    return await client.get(url, allow_redirects=False, headers=headers)


def plugin_messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name.startswith("aiohttp_oauth2_login")]


def assert_not_logged(caplog: pytest.LogCaptureFixture, *texts: str) -> None:
    """No line of the plugin's loggers holds the text (raw or sanitised) or a raw control
    character. (aiohttp's own access log of the test client writes every URL as it came; the
    plugin's ``RedactingAccessLogger`` is checked in tests/test_log_hygiene.py.)"""
    for message in plugin_messages(caplog):
        assert not _CONTROL.search(message), message
        for text in texts:
            if text:
                assert text not in message, message


async def assert_anonymous(client: Client) -> None:
    resp = await client.get("/private", headers=JSON, allow_redirects=False)
    assert resp.status == 401


def assert_safe_page(text: str) -> None:
    parsed = PageTags(text)
    assert not {"script", "iframe", "img", "object", "embed", "link", "base"} & set(parsed.tags)
    for url in parsed.urls:  # the retry link only: never error_uri
        assert url == "/auth/login/fake", url


def assert_retry_link(text: str, error: str) -> None:
    """ "Try again" only where retrying can help: never on the "misconfigured" page."""
    assert ("/auth/login/fake" in PageTags(text).urls) == (error not in MISCONFIGURED)


# ---- recorded callbacks -----------------------------------------------------------------------


@pytest.mark.parametrize(("provider", "name", "recorded"), RECORDED)
async def test_recorded_error_callback(
    client: Client,
    fake: FakeProvider,
    logs: pytest.LogCaptureFixture,
    provider: str,
    name: str,
    recorded: str,
) -> None:
    params = dict(parse_qsl(recorded, keep_blank_values=True))
    error = params["error"]
    description = params.get("error_description")
    state = await start_login(client)
    resp = await deliver(client, with_login(recorded, state, fake.issuer))
    text = await resp.text()
    assert resp.status == expected_status(error), text
    assert resp.content_type == "text/html"
    assert resp.headers["Cache-Control"] == "no-store"
    assert_safe_page(text)
    assert_retry_link(text, error)
    if error in MISCONFIGURED:
        assert "misconfigured" in text
    if error == "access_denied":
        assert "Sign-in was cancelled." in text
    if description is not None:
        assert html.escape(shown(description)) in text  # shown, escaped, on one line
        if shown(description) != description:
            assert description not in text  # never the raw CR/LF form
    if "error_uri" in params:
        assert params["error_uri"] not in text
        assert "troubleshooting" not in text
    assert "\r" not in text
    assert state not in text
    assert fake.calls["token"] == 0
    await assert_anonymous(client)
    assert_not_logged(logs, state, *([description, shown(description)] if description else []))
    # the transaction is consumed: the same callback again is a bad state
    again = await deliver(client, with_login(recorded, state, fake.issuer))
    assert again.status == 400


@pytest.mark.parametrize(("provider", "name", "recorded"), RECORDED)
async def test_recorded_error_callback_json(
    client: Client, fake: FakeProvider, provider: str, name: str, recorded: str
) -> None:
    error = dict(parse_qsl(recorded))["error"]
    state = await start_login(client)
    resp = await deliver(client, with_login(recorded, state, fake.issuer), headers=JSON)
    assert resp.status == expected_status(error), await resp.text()
    body = await resp.json()
    assert set(body) == {"error", "error_description", "reason"}
    assert body["error"] == expected_code(error)
    assert body["reason"] == expected_reason(error)


def test_the_recordings_are_what_the_readmes_say() -> None:
    """Every provider directory has its README and a recording per README row."""
    for provider in PROVIDERS:
        readme = (DATA / provider / "README.md").read_text()
        assert "error_callbacks.json" in readme
        for name, recorded in load(provider, "error_callbacks").items():
            assert "error=" in recorded
            if provider in ("entra", "okta", "auth0", "keycloak"):
                assert f"`{name}`" in readme, (provider, name)


def test_entra_sends_crlf_in_the_description() -> None:
    """The shape that used to be refused: CR/LF between the AADSTS message and its IDs."""
    recorded = load("entra", "error_callbacks")["access_denied_consent_declined"]
    description = dict(parse_qsl(recorded))["error_description"]
    assert "\r\nTrace ID: " in description and "\r\nCorrelation ID: " in description
    assert unquote_plus("AADSTS65004%3a") in description


# ---- descriptions the recordings do not cover ---------------------------------------------------

HUGE = "AADSTS65004: User declined to consent to access the app. " + "X" * 6000
EDGE_DESCRIPTIONS: dict[str, tuple[str, str | None]] = {
    # name: (description, the text the page shows (None: no description shown))
    "non_ascii": (
        "L'utilisateur a refusé l'accès – Zugriff verweigert ✋",
        "L'utilisateur a refusé l'accès – Zugriff verweigert ✋",
    ),
    "control_characters": (
        "denied\x00by\x1b[31m user\x07\tnow\x7f\x85\u2028end",
        "denied by [31m user now end",
    ),
    "bidi_override": ("Sign-in \u202eelbaliava\u202c refused", "Sign-in elbaliava refused"),
    "zero_width": ("ab\u200bcd", "ab cd"),
    "markup": (
        '<script>alert(1)</script><a href="https://evil.example">x</a>',
        '<script>alert(1)</script><a href="https://evil.example">x</a>',
    ),
    "only_white_space": ("\r\n\t   \r\n", None),
    "empty": ("", None),
}


@pytest.mark.parametrize("name", list(EDGE_DESCRIPTIONS))
async def test_access_denied_with_any_description_is_403(
    client: Client, fake: FakeProvider, logs: pytest.LogCaptureFixture, name: str
) -> None:
    description, expected = EDGE_DESCRIPTIONS[name]
    state = await start_login(client)
    query = "error=access_denied&error_description=" + quote(description, safe="")
    resp = await deliver(client, f"{query}&state={state}")
    text = await resp.text()
    assert resp.status == 403, text
    assert "Sign-in was cancelled." in text
    assert_safe_page(text)
    if expected is not None:
        assert html.escape(expected) in text
    else:
        assert "provider said" not in text
    assert not _CONTROL.search(text.replace("\n", ""))
    assert "\u202e" not in text and "\u200b" not in text
    assert fake.calls["token"] == 0
    await assert_anonymous(client)
    assert_not_logged(logs, description, expected or "")


async def test_a_huge_description_is_403_cut_and_never_logged(
    client: Client, fake: FakeProvider, logs: pytest.LogCaptureFixture
) -> None:
    state = await start_login(client)
    query = "error=access_denied&error_description=" + quote(HUGE, safe="")
    assert len(query) > 6000
    resp = await deliver(client, f"{query}&state={state}")
    text = await resp.text()
    assert resp.status == 403, text
    assert "Sign-in was cancelled." in text
    assert "AADSTS65004: User declined to consent to access the app. XXX" in text
    assert "X" * SHOWN_AT_MOST not in text  # cut ...
    assert "X…" in text  # ... with an ellipsis
    assert len(text) < 8000
    assert_not_logged(logs, "X" * 50, "User declined to consent")
    await assert_anonymous(client)


async def test_a_repeated_description_shows_none_and_does_not_refuse(
    client: Client, fake: FakeProvider
) -> None:
    """Which of two descriptions would be the provider's? Neither is shown; ``error`` decides."""
    state = await start_login(client)
    descriptions = "error_description=first+one&error_description=second+one"
    query = f"error=access_denied&{descriptions}&state={state}"
    resp = await deliver(client, query)
    text = await resp.text()
    assert resp.status == 403, text
    assert "first one" not in text and "second one" not in text
    await assert_anonymous(client)


@pytest.mark.parametrize(
    ("error", "status"),
    [
        ("server_error", 502),
        ("temporarily_unavailable", 502),
        ("invalid_scope", 502),  # the site's scopes: misconfigured
        ("login_required", 400),
        ("made_up", 400),
    ],
)
async def test_status_follows_error_whatever_the_description(
    client: Client, fake: FakeProvider, error: str, status: int
) -> None:
    state = await start_login(client)
    description = quote("Line one.\r\nLine two – ünïcödé " + "y" * 5000, safe="")
    resp = await deliver(client, f"error={error}&error_description={description}&state={state}")
    text = await resp.text()
    assert resp.status == status, text
    assert "Line one. Line two – ünïcödé yyy" in text
    assert fake.calls["token"] == 0


# ---- everything else stays strict -------------------------------------------------------------


@pytest.mark.parametrize(
    "extra",
    [
        pytest.param("&error=access_denied", id="error-repeated"),
        pytest.param("&code=a&code=b", id="code-repeated"),
        pytest.param("&code=%0d%0a", id="code-crlf"),
        pytest.param("&iss=https%3A%2F%2Fevil.example", id="iss-foreign"),
        pytest.param("&iss=a&iss=b", id="iss-repeated"),
    ],
)
async def test_access_denied_with_a_bad_other_parameter_is_still_400(
    client: Client, fake: FakeProvider, extra: str
) -> None:
    state = await start_login(client)
    query = f"error=access_denied&error_description=User+declined.&state={state}{extra}"
    resp = await deliver(client, query)
    assert resp.status == 400, await resp.text()
    await assert_anonymous(client)


@pytest.mark.parametrize(
    "error",
    [
        pytest.param("access_denied%0d%0a", id="crlf"),
        pytest.param("acc%C3%A8ss_denied", id="non-ascii"),
        pytest.param("a" * 5000, id="oversized"),
    ],
)
async def test_a_malformed_error_code_is_still_400(
    client: Client, fake: FakeProvider, error: str
) -> None:
    state = await start_login(client)
    resp = await deliver(client, f"error={error}&state={state}")
    assert resp.status == 400, await resp.text()


@pytest.mark.parametrize(
    "state",
    [
        pytest.param(lambda s: f"{s}&state={s}", id="repeated"),
        pytest.param(lambda s: s + "%0d%0a", id="crlf"),
        pytest.param(lambda s: s[:-1] + "A" if s[-1] != "A" else s[:-1] + "B", id="wrong"),
    ],
)
async def test_access_denied_with_a_bad_state_is_still_400(
    client: Client, fake: FakeProvider, state: Any
) -> None:
    genuine = await start_login(client)
    recorded = load("entra", "error_callbacks")["access_denied_consent_declined"]
    query = with_login(recorded, state(genuine), fake.issuer)
    resp = await deliver(client, query)
    text = await resp.text()
    assert resp.status == 400, text
    assert "AADSTS65004" not in text  # nothing of an unauthenticated callback is shown
