"""The redacting access logger: no code, state, nonce or token in an access log line."""

from __future__ import annotations

import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from yarl import URL

from aiohttp_oauth2_login import RedactingAccessLogger
from aiohttp_oauth2_login.log import redact_url, safe


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/a/b", "/a/b"),
        ("/cb?code=c1&state=s1&iss=https://i", "/cb?code=REDACTED&state=REDACTED&iss=https://i"),
        ("/x?access_token=t&id_token=i&refresh_token=r", None),
        ("/x?Code=c&STATE=s&nonce=n&code_verifier=v", None),
    ],
)
def test_redact_url(url: str, expected: str | None) -> None:
    out = redact_url(URL(url))
    if expected is not None:
        assert out == expected
    for secret in ("c1", "s1", "=t", "=i&", "=r", "=c&", "=s&", "=n", "=v"):
        assert secret not in out


def test_access_log_line_has_no_secrets(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test.access")
    access = RedactingAccessLogger(log, "")
    request = make_mocked_request(
        "GET",
        "/auth/callback/x?code=SECRETCODE&state=SECRETSTATE",
        headers={"Referer": "https://idp.example/authorize?nonce=SECRETNONCE", "User-Agent": "t"},
    )
    with caplog.at_level(logging.INFO, logger="test.access"):
        access.log(request, web.Response(status=303), 0.01)
    line = caplog.records[-1].getMessage()
    assert "/auth/callback/x?code=REDACTED&state=REDACTED" in line
    assert "https://idp.example" in line
    for secret in ("SECRETCODE", "SECRETSTATE", "SECRETNONCE"):
        assert secret not in line


def test_safe_strips_control_characters() -> None:
    assert safe("a\r\nb\x00c") == "a??b?c"
    assert safe("x" * 100, limit=10) == "x" * 10 + "..."
