"""The plugin's own pages and error answers: escaped, self-contained, never cached or framed."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from yarl import URL

from .errors import OAuthLoginError

__all__ = [
    "SECURITY_HEADERS",
    "content_security_policy",
    "csp_origin",
    "error_response",
    "json_response",
    "page",
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
    page may also submit to or be redirected to, besides this origin."""
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

_STYLE = """
body{font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
background:#f5f6f8;color:#1d2330}
main{max-width:28rem;margin:12vh auto;background:#fff;border-radius:12px;padding:2rem 2.25rem;
box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 24px rgba(0,0,0,.06)}
h1{font-size:1.35rem;margin:0 0 1rem}
p{margin:.5rem 0 1rem;color:#424a5b}
.btn,button{display:block;width:100%;box-sizing:border-box;margin:.5rem 0;padding:.7rem 1rem;
border:1px solid #c9ced8;border-radius:8px;background:#fff;color:#1d2330;font:inherit;
text-align:center;text-decoration:none;cursor:pointer}
.btn:hover,button:hover{background:#f0f2f6}
button.primary{background:#1d4ed8;border-color:#1d4ed8;color:#fff}
.code{font:13px ui-monospace,monospace;color:#6b7280}
"""


def wants_json(request: web.Request) -> bool:
    """JSON for API clients (``Accept: application/json`` without ``text/html``)."""
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def page(title: str, body: str, *, status: int = 200) -> web.Response:
    """A complete HTML page; ``body`` must already be escaped HTML."""
    text = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )
    return web.Response(
        text=text, status=status, content_type="text/html", headers=SECURITY_HEADERS
    )


def json_response(data: Any, *, status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data),
        status=status,
        content_type="application/json",
        headers=SECURITY_HEADERS,
    )


def error_response(
    request: web.Request, exc: OAuthLoginError, *, retry_url: str | None = None
) -> web.Response:
    """The error page (or JSON) for ``exc``: its status, its safe description, nothing else."""
    if wants_json(request):
        data = {"error": exc.error, "error_description": exc.description}
        if exc.reason is not None:
            data["reason"] = exc.reason
        return json_response(data, status=exc.status)
    body = f"<p>{html.escape(exc.description)}</p>"
    if exc.provider_description:  # the provider's words, labelled as such; never a link
        said = html.escape(exc.provider_description)
        body += f'<p class="code">The sign-in provider said: \u201c{said}\u201d</p>'
    if exc.hint:
        body += f"<p>{html.escape(exc.hint)}</p>"
    body += f'<p class="code">Error: {html.escape(exc.error)}</p>'
    if retry_url is not None and exc.retryable:
        body += f'<a class="btn" href="{html.escape(retry_url)}">Try again</a>'
    return page(exc.title, body, status=exc.status)
