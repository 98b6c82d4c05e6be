"""What the package logs of outside text: a provider's words never show a secret, however it is
written (G21), and visitors' text never carries line separators or bidi controls."""

from __future__ import annotations

import logging
from types import SimpleNamespace
from urllib.parse import quote, quote_plus

import pytest

from aiohttp_oauth2_login._oauth.protocol import _hidden, basic_auth, explain_refusal
from aiohttp_oauth2_login.log import safe

SECRET = "myapp-9f8e/7d6c 5b4a+3928"


def _logged(caplog: pytest.LogCaptureFixture, description: str, hide: list[str]) -> str:
    caplog.set_level(logging.INFO, "aiohttp_oauth2_login")
    explain_refusal(
        SimpleNamespace(name="acme"),
        SimpleNamespace(issuer="https://idp.example"),  # type: ignore[arg-type]
        "token request",
        ("invalid_client", description, "client_secret"),
        hide=hide,
    )
    return caplog.records[-1].getMessage()


def test_a_secret_containing_a_shorter_hidden_value_is_redacted_whole(
    caplog: pytest.LogCaptureFixture,
) -> None:
    line = _logged(caplog, f"client secret {SECRET} is wrong", ["code123456", "myapp", SECRET])
    assert "9f8e" not in line and "3928" not in line
    assert "description='client secret [redacted] is wrong'" in line


@pytest.mark.parametrize("form", [quote(SECRET, safe=""), quote_plus(SECRET)])
def test_the_url_encoded_forms_of_a_secret_are_redacted(
    caplog: pytest.LogCaptureFixture, form: str
) -> None:
    line = _logged(caplog, f"got client_secret={form}", ["myapp", SECRET])
    assert "9f8e" not in line and "3928" not in line


def test_the_basic_credentials_of_a_secret_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    provider = SimpleNamespace(
        client_id="myapp", client_secret=SECRET, client_auth="client_secret_basic"
    )
    credentials = basic_auth("myapp", SECRET)["Authorization"][6:]
    line = _logged(caplog, f"bad header Basic {credentials}", _hidden(provider))
    assert credentials not in line and "[redacted]" in line


def test_revocation_hides_the_client_secret_too() -> None:
    provider = SimpleNamespace(
        client_id="myapp", client_secret=SECRET, client_auth="client_secret_post"
    )
    assert SECRET in _hidden(provider, "the-token")


@pytest.mark.parametrize(
    "char", ["\u2028", "\u2029", "\u202e", "\u200b", "\ud800", "\ue000", "\u0378", "\x1b", "\x85"]
)
def test_safe_replaces_separators_format_and_unassigned_characters(char: str) -> None:
    assert safe(f"a{char}b") == "a?b"


def test_safe_keeps_printable_text_and_caps_it() -> None:
    assert safe("Zoë 東京 x") == "Zoë 東京 x"
    assert safe("a" * 90) == "a" * 80 + "..."
