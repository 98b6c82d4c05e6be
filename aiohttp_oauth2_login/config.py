"""Frozen, validated configuration of one ``setup_oauth`` call."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from aiohttp import web
from yarl import URL

from ._oauth.http import HttpLimits
from ._pages import PageSettings
from ._urls import safe_next
from .errors import ConfigurationError

if TYPE_CHECKING:
    from .tokens import TokenSet
    from .user import User

__all__ = [
    "OAuthConfig",
    "OnLogin",
    "Scope",
    "is_loopback",
    "parse_duration",
    "parse_prefix",
    "parse_public_url",
    "parse_session_keys",
]

#: ``on_login(request, user, token)``: return a response to refuse the login, or ``None``
OnLogin = Callable[[web.Request, "User", "TokenSet"], Awaitable[web.StreamResponse | None]]

_PREFIX = re.compile(r"(/[A-Za-z0-9._~-]+)+")
_DOMAIN = re.compile(
    r"(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}"
)


def parse_prefix(prefix: object) -> str:
    """A sub-app prefix like ``/auth``: one or more path segments, no trailing slash."""
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ConfigurationError(f"prefix must look like '/auth', got {prefix!r}")
    return prefix


def is_loopback(host: str | None) -> bool:
    if host is None:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_public_url(value: object) -> URL | None:
    """The external origin (and path prefix) of the app; http only on loopback."""
    if value is None:
        return None
    if not isinstance(value, str | URL):
        raise ConfigurationError("public_url must be a string like 'https://app.example.com'")
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"public_url must be an absolute http(s) URL, got {value!r}")
    if url.query_string or url.fragment or url.user or url.password:
        raise ConfigurationError("public_url must not have a query, fragment or credentials")
    if url.scheme == "http" and not is_loopback(url.host):
        raise ConfigurationError(
            f"public_url {value!r} is plain http on a public host: tokens and cookies would "
            "travel unencrypted; use https (http is accepted for localhost only)"
        )
    return url.with_path(url.path.rstrip("/") or "/")


def parse_duration(value: object, what: str) -> int:
    """Seconds from an int or a ``timedelta``; must be positive."""
    if isinstance(value, timedelta):
        value = int(value.total_seconds())
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigurationError(f"{what} must be a positive number of seconds or a timedelta")
    return value


def parse_domains(value: object) -> frozenset[str] | None:
    """Lower-cased email domains (``example.com``), or ``None`` for no restriction."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise ConfigurationError("allowed_email_domains must be a list of domain names")
    domains = set()
    for item in value:
        if not isinstance(item, str) or not _DOMAIN.fullmatch(item):
            raise ConfigurationError(f"allowed_email_domains: {item!r} is not a domain name")
        domains.add(item.lower())
    if not domains:
        raise ConfigurationError("allowed_email_domains must not be empty (None allows all)")
    return frozenset(domains)


def parse_default_next(value: object) -> str:
    if safe_next(value, "") == "":
        raise ConfigurationError(f"default_next must be a same-origin path like '/', got {value!r}")
    assert isinstance(value, str)  # noqa: S101 - checked by safe_next
    return value


def parse_session_keys(value: object, reserved: str) -> tuple[str, ...]:
    """``carry_session_keys``: names of the app's own session keys (not ``reserved``, the
    plugin's) whose values survive the session rotation at login."""
    if isinstance(value, str) or not isinstance(value, list | tuple | set | frozenset):
        raise ConfigurationError("carry_session_keys must be a list of session key names")
    keys: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item or item == reserved:
            raise ConfigurationError(
                f"carry_session_keys: {item!r} must be a key name of the app's own session data"
            )
        if item not in keys:
            keys.append(item)
    return tuple(keys)


@dataclass(slots=True)
class Scope:
    """Which ``setup_oauth`` a session or login transaction belongs to: the external path of
    its login page, known once the application tree is frozen (set at startup). A session of
    another setup in the same application tree is anonymous here (G12)."""

    path: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OAuthConfig:
    """Everything ``setup_oauth`` validated; read by the views and ``require_login``."""

    prefix: str
    public_url: URL | None
    default_next: str
    session_lifetime: int
    idle_timeout: int
    limits: HttpLimits
    on_login: OnLogin | None
    secure_cookies: bool
    provider_names: frozenset[str]
    allowed_email_domains: frozenset[str] | None = None
    scope: Scope = field(default_factory=Scope)
    #: site name, render hook, translations and languages of the plugin's pages
    pages: PageSettings = field(default_factory=PageSettings)
    #: the app's session keys carried across the rotation at login (``start_login_session``)
    carry_session_keys: tuple[str, ...] = ()
