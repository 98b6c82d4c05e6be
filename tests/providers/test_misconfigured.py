"""A wrong client secret or redirect URI, as GitHub, Google and Facebook really answer it.

The token endpoint's refusal (recorded in ``tests/data/<provider>/``, see the READMEs) is logged
once at WARNING with the provider's own code and words and what to check (the setting, the
environment variable ``from_env`` reads, the exact redirect URI the plugin sent), and the visitor
gets the 502 "misconfigured" page without "Try again". An expired or used code stays the
visitor's problem: 401 with "Try again".
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from aiohttp_oauth2_login.providers import Facebook, GitHub, Google, Provider

from ..support.app import JSON
from ..support.html import PageTags
from ._recorded import Harness, RecordedProvider, load, make_harness
from .test_google import _rebased_discovery

SECRET = "1f3b7d9c2e4a6b8d0f1e3c5a7b9d2f4e6a8c0b1d"
CLIENT_ID = "Iv1.8a61f9b3a7aba766"
GITHUB_TOKEN = "/login/oauth/access_token"  # noqa: S105 - a URL path
V = "v26.0"
FACEBOOK_TOKEN = f"/{V}/oauth/access_token"  # noqa: S105 - a URL path


def github(fake: RecordedProvider) -> Provider:
    return GitHub(
        client_id=CLIENT_ID, client_secret=SECRET, base_url=fake.url, api_base_url=fake.url
    )


def google(fake: RecordedProvider) -> Provider:
    fake.on("GET", "/.well-known/openid-configuration", _rebased_discovery(fake.url))
    return Google(client_id=CLIENT_ID, client_secret=SECRET, issuer=fake.url)


def facebook(fake: RecordedProvider) -> Provider:
    return Facebook(
        client_id=CLIENT_ID,
        client_secret=SECRET,
        authorize_url=f"{fake.url}/{V}/dialog/oauth",
        token_url=f"{fake.url}{FACEBOOK_TOKEN}",
        userinfo_url=f"{fake.url}/{V}/me",
        api_base_url=f"{fake.url}/{V}/",
    )


PRESETS = {
    "github": ("/login/oauth/authorize", GITHUB_TOKEN, github, "GITHUB"),
    "google": ("/o/oauth2/v2/auth", "/token", google, "GOOGLE"),
    "facebook": (f"/{V}/dialog/oauth", FACEBOOK_TOKEN, facebook, "FACEBOOK"),
}

#: (preset, recording, HTTP status it comes with, reason, what the log line must quote)
CASES = [
    ("github", "token_incorrect_client_credentials", 200, "client_secret", "client_id and/or"),
    ("github", "token_redirect_uri_mismatch", 200, "redirect_uri", "MUST match the registered"),
    ("google", "token_invalid_client", 401, "client_secret", "Unauthorized"),
    ("google", "token_redirect_uri_mismatch", 400, "redirect_uri", "Bad Request"),
    ("facebook", "token_error_client_secret", 400, "client_secret", "validating client secret"),
    ("facebook", "token_error_redirect_uri", 400, "redirect_uri", "identical to the one"),
    ("facebook", "token_error_app_id", 400, "client_id", "Invalid application ID"),
]


async def harness(aiohttp_server: Any, aiohttp_client: Any, preset: str) -> Harness:
    authorize, _, build, _ = PRESETS[preset]
    fake = await RecordedProvider(authorize_path=authorize).start(aiohttp_server)
    if preset == "google":
        fake.callback_params = {"iss": fake.url}
    return await make_harness(aiohttp_client, fake, build(fake))


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "aiohttp_oauth2_login" and r.levelno == logging.WARNING
    ]


@pytest.mark.parametrize(
    ("preset", "recording", "status", "reason", "quoted"),
    [pytest.param(*case, id=f"{case[0]}-{case[1]}") for case in CASES],
)
async def test_the_sites_own_settings_refused(
    aiohttp_server: Any,
    aiohttp_client: Any,
    caplog: pytest.LogCaptureFixture,
    preset: str,
    recording: str,
    status: int,
    reason: str,
    quoted: str,
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp_oauth2_login")
    h = await harness(aiohttp_server, aiohttp_client, preset)
    token_path, env = PRESETS[preset][1], PRESETS[preset][3]
    h.fake.on("POST", token_path, load(preset, recording), status)
    resp = await h.login()
    text = await resp.text()
    assert resp.status == 502, text
    assert "sign-in is misconfigured" in text
    assert not [url for url in PageTags(text).urls if "/auth/login" in url]  # no "Try again"
    assert quoted not in text  # the provider's words go to the log, not the page
    assert not await h.logged_in()
    said = [line for line in warnings(caplog) if " refused by " in line]
    assert len(said) == 1, warnings(caplog)
    line = said[0]
    assert f"code exchange refused by {preset}" in line
    assert quoted in line and f"reason={reason}" in line
    if reason == "client_secret":
        assert f"{env}_CLIENT_SECRET" in line
    if reason == "client_id":
        assert f"{env}_CLIENT_ID" in line
    if reason == "redirect_uri":  # exactly the URI the plugin sent
        sent = h.fake.one("POST", token_path).form["redirect_uri"]
        assert sent == str(h.client.make_url(f"/auth/callback/{preset}"))
        assert sent in line
    assert f"sign-in with {preset} failed: reason={reason} status=502" in warnings(caplog)
    for secret in (SECRET, *h.fake.codes):
        assert secret not in caplog.text
    # and for an API client: the reason code
    h.fake.on("POST", token_path, load(preset, recording), status)
    answer = await h.client.get(f"/auth/login/{preset}", headers=JSON)
    body = await answer.json()
    assert answer.status == 502 and body["reason"] == reason and body["error"] == "server_error"


@pytest.mark.parametrize(
    ("preset", "recording", "status"),
    [("github", "token_error", 200), ("facebook", "token_error", 400)],
)
async def test_an_expired_or_used_code_is_the_visitors_problem(
    aiohttp_server: Any,
    aiohttp_client: Any,
    caplog: pytest.LogCaptureFixture,
    preset: str,
    recording: str,
    status: int,
) -> None:
    """GitHub's ``bad_verification_code``, Facebook's subcode 36009 ("This authorization code
    has been used."): 401 with "Try again", logged at INFO with the provider's code."""
    caplog.set_level(logging.INFO, logger="aiohttp_oauth2_login")
    h = await harness(aiohttp_server, aiohttp_client, preset)
    h.fake.on("POST", PRESETS[preset][1], load(preset, recording), status)
    resp = await h.login()
    text = await resp.text()
    assert resp.status == 401, text
    assert [url for url in PageTags(text).urls if "/auth/login" in url]
    assert any("reason=code_rejected" in r.getMessage() for r in caplog.records)


async def test_a_description_is_logged_on_one_bounded_line_without_secrets(
    aiohttp_server: Any, aiohttp_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A hostile or careless provider's description: CR/LF, control characters, 5,000
    characters, and the very code and client secret it was sent. One line, cut, redacted."""
    h = await harness(aiohttp_server, aiohttp_client, "github")

    def answer(seen: Any) -> tuple[int, Any]:
        said = f"bad\r\nsecret {SECRET} code {seen.form['code']}\x1b[31m " + "z" * 5000
        return 200, {"error": "incorrect_client_credentials", "error_description": said}

    h.fake.on_call("POST", GITHUB_TOKEN, answer)
    assert (await h.login()).status == 502
    line = next(m for m in warnings(caplog) if " refused by " in m)
    assert "\r" not in line and "\n" not in line and "\x1b" not in line
    assert SECRET not in caplog.text
    for code in h.fake.codes:
        assert code not in caplog.text
    assert "[redacted]" in line and "z" * 50 in line and "z" * 250 not in line
    assert SECRET[:8] not in line  # redacted before it was cut: not even a prefix
