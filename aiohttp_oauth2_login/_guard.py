"""Guardrails for mistakes that otherwise fail silently: a reverse proxy or a second host name
without ``public_url`` (L6), redirect URIs hidden by unconfigured logging, and session cookies
whose ``Secure`` flag contradicts how the site is served.

Headers such as ``X-Forwarded-Proto`` only ever decide whether to warn and what to *suggest*
in the warning; nothing is built from them (L6).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable

import aiohttp_session
from aiohttp import web
from yarl import URL

from .errors import ConfigurationError
from .log import logger, safe

__all__ = ["ProxyGuard", "announce", "check_session_cookies"]

#: headers a reverse proxy adds (RFC 7239 and the de-facto ``X-Forwarded-*``)
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host")
#: the causes warned about in this process: one WARNING per cause, not one per request
_WARNED: set[str] = set()
_CAUSES = frozenset({"proxy", "host"})
#: a host[:port] fit to quote in a suggestion (DNS name, IPv4 or bracketed IPv6)
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])")
_PORT = re.compile(r"[0-9]{1,5}")


def _internal_origin(request: web.BaseRequest) -> URL | None:
    """The origin the request arrived at, or ``None`` when its ``Host`` is no origin (yarl
    refuses ``x:99999``): the warning is then skipped, never a 500."""
    try:
        return request.url.origin()
    except ValueError:
        return None


def _split_host(value: str) -> tuple[str, str | None] | None:
    """``(host, port)`` of a ``Host``-style value, or ``None`` when it is not one."""
    value = value.strip()
    if value.startswith("["):
        host, _, rest = value.partition("]")
        host += "]"
        port = rest[1:] if rest.startswith(":") else None
        if rest and port is None:
            return None
    else:
        host, colon, port_text = value.partition(":")
        port = port_text if colon else None
    if not _HOST.fullmatch(host) or (port is not None and not _PORT.fullmatch(port)):
        return None
    return host.lower(), port


def _forwarded_param(request: web.BaseRequest, name: str) -> str | None:
    """``name=`` of the first element of an RFC 7239 ``Forwarded`` header, if any."""
    for element in request.forwarded[:1]:
        value = element.get(name)
        if value:
            return value
    return None


def _first(request: web.BaseRequest, header: str) -> str | None:
    value = request.headers.get(header)
    return value.split(",", 1)[0].strip() if value else None


def _browser_facing(request: web.BaseRequest) -> tuple[str, str | None]:
    """(scheme, host[:port]) the browser probably used, as the proxy headers claim: only ever
    quoted in a suggestion, never used."""
    scheme = _first(request, "X-Forwarded-Proto") or _forwarded_param(request, "proto")
    host = _first(request, "X-Forwarded-Host") or _forwarded_param(request, "host")
    host = host or request.headers.get("Host")
    scheme = scheme.lower() if scheme else request.scheme
    return (scheme if scheme in ("http", "https") else "https"), host


def _suggestion(request: web.BaseRequest) -> str:
    scheme, host = _browser_facing(request)
    parts = _split_host(host) if host else None
    if parts is None:
        return "https://<the host browsers use>"
    name, port = parts
    return f"{scheme}://{name}" + (f":{port}" if port else "")


class ProxyGuard:
    """Warns once per process when the requests of the plugin's routes show that logins are
    built for another origin than the browser's (L6): forwarding headers without
    ``public_url``, or a ``Host`` other than the one logins are built for."""

    __slots__ = ("_first_host", "_first_raw", "public_url")

    def __init__(self, public_url: URL | None) -> None:
        self.public_url = public_url
        #: without public_url: the first host seen (logins are then built for each request's)
        self._first_host: str | None = None
        #: the ``Host`` header that gave it, as sent: the same header again needs no parsing
        self._first_raw: str | None = None

    def check(self, request: web.BaseRequest) -> None:
        """Called on the login sub-app's routes and the login redirect only (never app-wide)."""
        if _WARNED >= _CAUSES:
            return
        headers = request.headers
        if (
            "proxy" not in _WARNED
            and self.public_url is None
            and any(h in headers for h in FORWARDING_HEADERS)
        ):
            internal = _internal_origin(request)
            if internal is not None:  # a Host that is no origin cannot spend the one warning
                logger.warning(
                    "requests reach the login routes through a reverse proxy (they carry %s) "
                    "but public_url is not set: redirect URIs and the logout check use the "
                    "internal origin %s and cookies lose Secure. Set setup_oauth(..., "
                    "public_url=%r) (suggested from the proxy's headers, which are never "
                    "trusted)",
                    "/".join(h for h in FORWARDING_HEADERS if h in headers),
                    safe(internal),
                    safe(_suggestion(request)),
                )
                _WARNED.add("proxy")  # spent only once it was logged
        if "host" not in _WARNED:
            self._check_host(request)

    def _check_host(self, request: web.BaseRequest) -> None:
        if self.public_url is not None:
            claimed = _first(request, "X-Forwarded-Host") or _forwarded_param(request, "host")
            parts = _split_host(claimed or request.headers.get("Host") or "")
            expected = (self.public_url.host or "").lower()
            if parts is None or parts[0].strip("[]") == expected.strip("[]"):
                return
            logger.warning(
                "a request for host %s reached the login routes, but public_url is %s: sign-in "
                "cookies set under one name are not sent to the other, so logins fail. Open "
                "the site at %s (or fix public_url); behind a reverse proxy, pass the original "
                "Host (nginx: proxy_set_header Host $host)",
                safe(parts[0]),
                self.public_url,
                self.public_url.origin(),
            )
            _WARNED.add("host")  # spent only once it was logged
            return
        raw = request.headers.get("Host", "")
        if raw == self._first_raw:
            return
        parts = _split_host(raw)
        if parts is None:
            return
        if self._first_host is None:
            self._first_host, self._first_raw = parts[0], raw
            return
        if parts[0] != self._first_host:
            logger.warning(
                "the login routes are reached as %s and as %s, and without public_url each "
                "login is built for the host of its request: a sign-in started on one name "
                "loses its cookies on the other, and the provider knows one redirect URI. Set "
                "setup_oauth(..., public_url=%r) and use only that name",
                self._first_host,
                safe(parts[0]),
                safe(_suggestion(request)),
            )
            _WARNED.add("host")  # spent only once it was logged


def _reaches_a_handler(log: logging.Logger) -> bool:
    """Whether a record of ``log`` reaches a configured handler (not ``logging.lastResort``)."""
    current: logging.Logger | None = log
    while current is not None:
        if current.handlers:
            return True
        if not current.propagate:
            return False
        current = current.parent
    return False


def announce(lines: Iterable[str]) -> None:
    """Start-up facts the developer must see (the redirect URIs to register): logged at INFO
    when logging is configured (its levels then decide), else written to stderr, since
    Python's last-resort handler shows WARNING and up only and ``web.run_app`` adds none."""
    if _reaches_a_handler(logger):
        for line in lines:
            logger.info("%s", line)
        return
    for line in lines:
        print(f"aiohttp_oauth2_login: {line}", file=sys.stderr, flush=True)


def check_session_cookies(storage: aiohttp_session.AbstractStorage, public_url: URL | None) -> None:
    """The session cookie's ``Secure`` flag against how the site is served (at setup).

    ``Secure`` over an http ``public_url`` is refused: browsers never send the cookie back, so
    every sign-in ends on the login page again. Without ``public_url`` it may be right (TLS
    ended at a proxy) or loop the same way, so it is a warning.
    """
    secure = bool(storage.cookie_params.get("secure"))
    name = storage.cookie_name
    if secure and public_url is not None and public_url.scheme == "http":
        raise ConfigurationError(
            f"the session storage sets its cookie {name!r} with secure=True but public_url "
            f"{str(public_url)!r} is http: browsers never send that cookie back over http, so "
            "every sign-in would loop back to the login. Create the storage with secure=False "
            "for local http, or serve the site over https with an https public_url"
        )
    if secure and public_url is None:
        logger.warning(
            "the session storage sets its cookie %r with secure=True and public_url is not "
            "set: this works only if browsers reach the site over https (TLS ended at a "
            "proxy); over plain http every sign-in loops back to the login. Set "
            "public_url='https://...' to say so, or secure=False for local http",
            name,
        )
    if not secure and public_url is not None and public_url.scheme == "https":
        logger.warning(
            "the session storage sets its cookie %r without Secure although public_url is "
            "https: the session cookie could travel over plain http; create the storage "
            "with secure=True",
            name,
        )
