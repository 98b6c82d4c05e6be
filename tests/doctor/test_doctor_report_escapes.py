"""The doctor's text report escapes what a provider supplied (endpoint URLs, redirect targets,
issuers): a hostile discovery document cannot drive the operator's terminal."""

from __future__ import annotations

from aiohttp_oauth2_login._doctor.report import LoginFacts, ProviderFacts, Report

HOSTILE = "http://evil.example/\x1b]0;owned\x07\u202etxt.exe\u2028next"


def test_provider_strings_are_escaped_in_the_text_report() -> None:
    report = Report(target="app:make")
    facts = ProviderFacts(
        name="acme",
        kind="OIDC",
        title="Acme",
        client_id="cid",
        client_secret="set, 6 characters",
        client_auth="client_secret_basic",
        scopes=["openid"],
        redirect_uri="https://app.example/auth/callback/acme",
        issuer=HOSTILE,
        endpoints={"token_url": HOSTILE},
    )
    session = {"storage": "cookie", "cookie_name": "s", "lifetime": 86400, "idle_timeout": 3600}
    report.logins.append(
        LoginFacts("/", None, "/auth/login", "/auth/logout", "set", session, [facts])
    )
    report.add("FAULT", "endpoint.insecure", "acme", f"token endpoint {HOSTILE} is plain http")
    text = report.to_text()
    assert all(ch.isprintable() for line in text.split("\n") for ch in line)
    assert "\\x1b]0;owned\\x07\\u202etxt.exe\\u2028next" in text
    assert "https://app.example/auth/callback/acme" in text  # printable lines are unchanged
