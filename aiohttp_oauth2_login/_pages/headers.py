"""The headers of every page and answer of the plugin: CSP, no caching, no framing, no sniffing."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from yarl import URL

__all__ = [
    "SECURITY_HEADERS",
    "content_security_policy",
    "csp_origin",
    "json_response",
    "wants_json",
]

#: scheme://host[:port] with a DNS host (IDNs arrive as punycode): a CSP host-source that
#: cannot carry CSP syntax (no ';', ',', quotes or spaces) and matches exactly one origin
_CSP_HOST_SOURCE = re.compile(
    r"https?://[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
    r"(?::[0-9]{1,5})?",
    re.ASCII,
)


def csp_origin(url: str) -> str | None:
    """The origin of an absolute http(s) URL as a CSP host-source (``scheme://host[:port]``),
    or ``None`` when it cannot be written as one safely (IPv6 literal, odd characters)."""
    try:
        origin = str(URL(url).origin())
    except (ValueError, TypeError):
        return None
    return origin if _CSP_HOST_SOURCE.fullmatch(origin) else None


def content_security_policy(*, form_action: tuple[str, ...] = ()) -> str:
    """The plugin's CSP. ``form_action``: origins (from :func:`csp_origin`) that a form of the
    page may also submit to or be redirected to, besides this origin.

    Inline ``<svg>`` icons need no source (they are markup, not fetched), so ``default-src
    'none'`` stays; only inline ``<style>`` is allowed."""
    for origin in form_action:
        if not _CSP_HOST_SOURCE.fullmatch(origin):
            raise ValueError("not a CSP host-source from csp_origin()")
    targets = " ".join(("'self'", *form_action))
    return (
        f"default-src 'none'; style-src 'unsafe-inline'; form-action {targets}; "
        "frame-ancestors 'none'; base-uri 'none'"
    )


SECURITY_HEADERS: Mapping[str, str] = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": content_security_policy(),
    "X-Content-Type-Options": "nosniff",
    # not no-referrer: browsers then send "Origin: null" on the logout form's POST
    "Referrer-Policy": "same-origin",
}


def wants_json(request: web.Request) -> bool:
    """JSON for API clients (``Accept: application/json`` without ``text/html``)."""
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def json_response(data: Any, *, status: int = 200) -> web.Response:
    """A JSON answer with the plugin's security headers."""
    return web.Response(
        text=json.dumps(data),
        status=status,
        content_type="application/json",
        headers=SECURITY_HEADERS,
    )
