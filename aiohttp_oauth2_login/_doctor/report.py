"""What the login doctor found: facts about each ``setup_oauth`` and one verdict per check,
rendered as a readable report or as JSON. Nothing here ever holds a secret: client secrets
and keys are described ("set, 40 characters"), never copied."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Check", "Level", "LoginFacts", "ProviderFacts", "Report"]

Level = Literal["OK", "WARN", "FAULT"]


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict: a stable ``id`` (``discovery.issuer``), what it is about, and the fix."""

    level: Level
    id: str
    subject: str
    message: str
    fix: str | None = None


@dataclass(slots=True)
class ProviderFacts:
    """A provider as configured (and, for OIDC, as discovered)."""

    name: str
    kind: str
    title: str
    client_id: str
    client_secret: str
    client_auth: str
    scopes: list[str]
    redirect_uri: str
    issuer: str | None = None
    endpoints: dict[str, str | None] = field(default_factory=dict)


@dataclass(slots=True)
class LoginFacts:
    """One ``setup_oauth``: where it lives, its URLs and its session settings."""

    mount: str
    public_url: str | None
    login_url: str
    logout_url: str
    secret_key: str
    session: dict[str, Any]
    providers: list[ProviderFacts] = field(default_factory=list)


@dataclass(slots=True)
class Report:
    """Everything one run found; ``exit_code`` is 1 when any check is a FAULT."""

    target: str
    logins: list[LoginFacts] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    def add(
        self, level: Level, id: str, subject: str, message: str, fix: str | None = None
    ) -> None:
        self.checks.append(Check(level, id, subject, message, fix))

    def count(self, level: Level) -> int:
        return sum(1 for check in self.checks if check.level == level)

    @property
    def exit_code(self) -> int:
        return 1 if self.count("FAULT") else 0

    def to_json(self) -> str:
        data = {
            "target": self.target,
            "logins": [asdict(login) for login in self.logins],
            "checks": [asdict(check) for check in self.checks],
            "summary": {level: self.count(level) for level in ("OK", "WARN", "FAULT")},
            "exit_code": self.exit_code,
        }
        return json.dumps(data, indent=2)

    def to_text(self) -> str:
        lines = [f"aiohttp-oauth2-login doctor: {self.target}", ""]
        for login in self.logins:
            lines += _login_lines(login)
        lines.append("checks")
        width = max((len(c.subject) for c in self.checks), default=0)
        for check in self.checks:
            lines.append(f"  {check.level:<5}  {check.subject:<{width}}  {check.message}")
            if check.fix and check.level != "OK":
                lines.append(f"  {'':<5}  {'':<{width}}  fix: {check.fix}")
        faults, warnings = self.count("FAULT"), self.count("WARN")
        verdict = "not ready to deploy" if faults else "no faults"
        lines += [
            "",
            f"{faults} fault{'s' * (faults != 1)}, {warnings} warning{'s' * (warnings != 1)}, "
            f"{self.count('OK')} ok: {verdict}",
        ]
        return "\n".join(_printable(line) for line in lines)


def _login_lines(login: LoginFacts) -> list[str]:
    session = login.session
    attributes = ", ".join(
        part
        for part in (
            "Secure" if session.get("secure") else "not Secure",
            "HttpOnly" if session.get("httponly") else "not HttpOnly",
            f"SameSite={session.get('samesite') or '(not set)'}",
            f"Path={session.get('path') or '/'}",
            f"Domain={session['domain']}" if session.get("domain") else "",
        )
        if part
    )
    lines = [
        f"setup_oauth at {login.mount}",
        f"  public_url      {login.public_url or '(not set)'}",
        f"  login page      {login.login_url}",
        f"  logout          {login.logout_url}",
        f"  session         {session['storage']}; cookie {session['cookie_name']!r}: {attributes}",
        f"                  lifetime {_duration(session['lifetime'])}, "
        f"idle timeout {_duration(session['idle_timeout'])}",
        f"  secret_key      {login.secret_key}",
    ]
    for provider in login.providers:
        lines.append(
            f"  provider {provider.name!r}: {provider.kind}, client_id {provider.client_id!r}, "
            f"client_secret {provider.client_secret}"
        )
        lines.append(f"    redirect URI to register: {provider.redirect_uri}")
        if provider.issuer is not None:
            lines.append(f"    issuer: {provider.issuer}")
        for name, url in provider.endpoints.items():
            if url is not None:
                lines.append(f"    {name}: {url}")
    lines.append("")
    return lines


def _printable(line: str) -> str:
    """``line`` with every character a terminal could act on escaped (``\\x1b``, ``\\u202e``):
    endpoint URLs, redirect targets and issuers come from the provider, and a hostile discovery
    document must not drive the operator's terminal (escape sequences, bidi overrides)."""
    if line.isprintable():
        return line
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in line)


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
