"""URLs the plugin builds or accepts: redirect URIs, external paths, safe ``next`` values."""

from __future__ import annotations

import re
from urllib.parse import unquote

from aiohttp import web
from yarl import URL

from .errors import InvalidRequest
from .log import safe

__all__ = [
    "external_path",
    "external_url",
    "origin_problem",
    "request_base",
    "request_origin",
    "safe_next",
    "same_origin",
]

_MAX_NEXT = 2048
# printable ASCII only: no control characters, no fullwidth or other look-alike characters
_NEXT_OK = re.compile(r"/(?![/\\])[\x21-\x7e]*")


def safe_next(value: object, default: str) -> str:
    """``value`` if it is a same-origin path (``/x``, not ``//x``, no scheme), else ``default``.

    Open-redirect defence (G19): anything a browser could resolve to another origin
    is replaced, never "repaired".
    """
    if not isinstance(value, str) or len(value) > _MAX_NEXT or not _NEXT_OK.fullmatch(value):
        return default
    if "\\" in value or not unquote(value).isprintable():  # also %0d%0a, %00 and friends
        return default
    url = URL(value)
    if url.scheme or url.host is not None or not url.path.startswith("/"):
        return default
    return value


def request_base(request: web.BaseRequest) -> URL | None:
    """The origin this request arrived at, or ``None`` when its ``Host`` header cannot be one
    (``x:99999``, ``x:abc``: yarl refuses such a port): a visitor's header is never a 500."""
    try:
        return request.url.origin()
    except ValueError:
        return None


def external_url(public_url: URL | None, request: web.Request, path: str) -> URL:
    """The absolute URL of an app path as browsers and providers see it.

    With ``public_url`` configured, ``Host`` and ``X-Forwarded-*`` never matter (L6). Without
    it, a request whose ``Host`` is no origin is an ``InvalidRequest`` (400), never a 500.
    """
    if public_url is not None:
        return public_url.with_path(public_url.path.rstrip("/") + path, encoded=False)
    base = request_base(request)
    if base is None:
        raise InvalidRequest()  # "The sign-in request was malformed."
    return base.with_path(path)


def external_path(public_url: URL | None, path: str) -> str:
    """``path`` prefixed with the path part of ``public_url`` (for apps behind a path proxy)."""
    if public_url is None:
        return path
    return public_url.path.rstrip("/") + path


def request_origin(public_url: URL | None, request: web.Request) -> str | None:
    """This site's origin as a browser would send it in ``Origin``; ``None`` when it is the
    request's own and its ``Host`` header is malformed."""
    url = public_url.origin() if public_url is not None else request_base(request)
    return None if url is None else str(url)


def same_origin(public_url: URL | None, request: web.Request) -> bool:
    """Whether a state-changing request comes from this site (CSRF defence, RFC 6454 §7).

    ``Origin`` decides when present (and not the opaque ``null``); otherwise
    ``Sec-Fetch-Site`` must say ``same-origin``; a request with neither is refused.
    """
    return origin_problem(public_url, request) is None


def origin_problem(public_url: URL | None, request: web.Request) -> str | None:
    """Why :func:`same_origin` refuses ``request`` (one line for the log, naming
    ``public_url``), or ``None`` when it comes from this site."""
    origin = request.headers.getall("Origin", [])
    if len(origin) > 1:
        return "the request carries several Origin headers"
    expected = request_origin(public_url, request)
    if expected is None:  # no public_url and a Host that is no origin: nothing to compare with
        return f"its Host header {safe(request.host)} is no origin " + _from(public_url)
    if origin and origin[0] != "null":
        if origin[0] == expected:
            return None
        return (
            f"it came from origin {safe(origin[0])} but this site's origin is {expected} "
            + _from(public_url)
        )
    if request.headers.getall("Sec-Fetch-Site", []) == ["same-origin"]:
        return None
    what = "Origin is null" if origin else "there is no Origin header"
    return (
        f"{what} and no 'Sec-Fetch-Site: same-origin' (a form of another site, or a client "
        f"that sends neither); this site's origin is {expected} " + _from(public_url)
    )


def _from(public_url: URL | None) -> str:
    if public_url is not None:
        return "(from public_url)"
    return (
        "(the origin this request arrived at, since public_url is not set: behind a reverse "
        "proxy set public_url to the origin browsers use)"
    )
