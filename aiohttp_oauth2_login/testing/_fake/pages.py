"""The fake provider's HTML: the human-usable sign-in page of the example app's "dev" provider
and its error pages, self-contained and locked down by a Content-Security-Policy (CSP Level 3).
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from aiohttp import web

from .model import AuthRequest, FakeAccount

_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action {}; frame-ancestors 'none'"
# an origin a CSP host-source can name (no IPv6 literal, nothing that could end the directive)
_CSP_ORIGIN_RE = re.compile(r"https?://[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?", re.ASCII)
HTML_HEADERS = {
    "Content-Security-Policy": _CSP.format("'self'"),
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_CSS = """
body{margin:0;background:#f3f4f6;color:#111827;font:16px/1.5 system-ui,sans-serif}
main{max-width:26rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:.75rem;
box-shadow:0 1px 3px rgba(0,0,0,.15);overflow-wrap:anywhere}
@media (max-width:30rem){main{margin:.75rem;padding:1.25rem}}
h1{margin:0 0 .5rem;font-size:1.4rem}
.note{padding:.5rem .75rem;background:#fef3c7;border-radius:.375rem;font-size:.9rem}
.meta{color:#4b5563;font-size:.9rem}
fieldset{border:0;margin:1rem 0;padding:0}
legend{font-weight:600;margin-bottom:.5rem}
.account{display:flex;gap:.75rem;align-items:center;padding:.5rem .75rem;margin:.25rem 0;
border:1px solid #d1d5db;border-radius:.375rem;cursor:pointer}
.account span{min-width:0}.account input{flex:none}
.account small{display:block;color:#6b7280}
label[for=username]{display:block;font-weight:600;margin-top:1rem}
input[type=text]{box-sizing:border-box;width:100%;padding:.5rem;margin-top:.25rem;
border:1px solid #d1d5db;border-radius:.375rem;font:inherit}
.buttons{display:flex;gap:.75rem;margin-top:1.5rem}
button{flex:1;padding:.6rem;border:0;border-radius:.375rem;font:inherit;cursor:pointer;
background:#2563eb;color:#fff}
button.secondary{background:#e5e7eb;color:#111827}
"""


def form_csp(redirect_uri: str) -> str:
    """The sign-in page's CSP: its form posts here, and the answer is a 302 to the relying
    party, which browsers check against ``form-action`` too (CSP Level 3 §6.4.1)."""
    parts = urlsplit(redirect_uri)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if _CSP_ORIGIN_RE.fullmatch(origin):
        return _CSP.format(f"'self' {origin}")
    return _CSP.format("*")  # an origin CSP cannot name (IPv6 literal): a dev tool, not a lock


def page(
    title: str, body: str, status: int = 200, headers: Mapping[str, str] = HTML_HEADERS
) -> web.Response:
    """A self-contained HTML page; *body* must already be escaped."""
    text = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body><main>{body}</main></body></html>\n"
    )
    return web.Response(text=text, status=status, content_type="text/html", headers=headers)


def error_page(message: str, status: int = 400) -> web.Response:
    body = f"<h1>Sign-in request rejected</h1><p>{html.escape(message)}</p>"
    return page("Sign-in request rejected", body, status)


def sign_in_page(
    *,
    title: str,
    client_id: str,
    accounts: Iterable[FakeAccount],
    selected: str,
    action: str,
    interaction: str,
    auth: AuthRequest,
) -> web.Response:
    """The account chooser for *auth*; its form posts *interaction* back to *action*."""
    esc = html.escape
    choices = []
    for account in accounts:
        detail = account.email or account.preferred_username or account.sub
        checked = " checked" if account.sub == selected else ""
        choices.append(
            f'<label class="account"><input type="radio" name="account" '
            f'value="{esc(account.sub)}"{checked}>'
            f"<span><strong>{esc(account.name or account.sub)}</strong>"
            f"<small>{esc(detail)}</small></span></label>"
        )
    parts = urlsplit(auth.redirect_uri)
    body = (
        f"<h1>{esc(title)}</h1>"
        '<p class="note">This is a development sign-in provider: no password is asked and '
        "anyone can be anyone. Never use it in production.</p>"
        f'<p class="meta">Application <strong>{esc(client_id)}</strong> asks you to '
        f"sign in and will receive you back at <code>{esc(parts.scheme)}://"
        f"{esc(parts.netloc)}</code>. Scope: <code>{esc(auth.scope or '(none)')}</code></p>"
        f'<form method="post" action="{esc(action)}">'
        f'<input type="hidden" name="interaction" value="{esc(interaction)}">'
        f"<fieldset><legend>Choose an account</legend>{''.join(choices)}</fieldset>"
        '<label for="username">Or sign in as another user</label>'
        '<input type="text" id="username" name="username" maxlength="64" '
        'autocomplete="off" placeholder="username">'
        '<div class="buttons"><button type="submit" name="action" value="approve">Sign in'
        '</button><button type="submit" name="action" value="deny" class="secondary">'
        "Cancel</button></div></form>"
    )
    csp = form_csp(auth.redirect_uri)
    return page(title, body, headers={**HTML_HEADERS, "Content-Security-Policy": csp})
