"""HTML of the example app: self-contained pages (inline CSS, no external resources).

Everything that comes from a user, a provider or a URL goes through ``html.escape``; the
functions here return complete documents as strings and know nothing of aiohttp.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

from aiohttp_oauth2_login import User

from .api_demo import ApiDemo

__all__ = [
    "APP_NAME",
    "SECURITY_HEADERS",
    "SignIn",
    "display_name",
    "home_page",
    "profile_page",
]

APP_NAME = "aiohttp-oauth2-login example"

#: sent with every answer of the app (the plugin's and the dev provider's own pages keep theirs)
SECURITY_HEADERS: Mapping[str, str] = {
    # Sign-in buttons are plain links (navigations), so form-action only needs this origin
    # for the sign-out form.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # Not "no-referrer": with it, browsers send "Origin: null" on form POSTs (Fetch standard,
    # "append a request Origin header"), and /auth/logout would refuse the sign-out form.
    # "same-origin" still sends nothing to other sites.
    "Referrer-Policy": "same-origin",
}

_CSS = """
*{box-sizing:border-box}
body{margin:0;background:#f4f5f7;color:#1f2430;
font:16px/1.55 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
header{background:#1f2430;color:#fff}
header .bar{max-width:44rem;margin:0 auto;padding:.75rem 1rem;display:flex;flex-wrap:wrap;
gap:.5rem 1rem;align-items:center;justify-content:space-between}
header a{color:#fff;text-decoration:none}
header .brand{font-weight:600}
header nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:center;font-size:.95rem}
header nav a:hover{text-decoration:underline}
header .who{color:#cbd5e1}
main{max-width:44rem;margin:2rem auto;padding:0 1rem}
.card{background:#fff;border-radius:12px;padding:1.5rem 1.75rem;margin-bottom:1.25rem;
box-shadow:0 1px 3px rgba(0,0,0,.08),0 8px 24px rgba(0,0,0,.05)}
h1{font-size:1.4rem;margin:0 0 .75rem}
p{margin:.5rem 0 1rem}
.buttons{display:flex;flex-direction:column;gap:.6rem;max-width:22rem}
.btn,button{display:inline-block;padding:.65rem 1rem;border:1px solid #c7ccd6;border-radius:8px;
background:#fff;color:#1f2430;font:inherit;text-align:center;text-decoration:none;cursor:pointer}
.btn:hover,button:hover{background:#eef0f4}
.btn.primary,button.primary{background:#1d4ed8;border-color:#1d4ed8;color:#fff}
.btn.primary:hover,button.primary:hover{background:#1e40af}
form.inline{display:inline;margin:0}
header form.inline button{padding:.2rem .7rem;background:transparent;color:#fff;
border-color:#5b6475;font-size:.9rem}
.warning{background:#fef3c7;border:1px solid #f59e0b;border-radius:8px;padding:.6rem .9rem;
font-size:.95rem}
dl{display:grid;grid-template-columns:minmax(7rem,max-content) 1fr;gap:.45rem 1.25rem;margin:0}
dt{font-weight:600;color:#4b5263}
dd{margin:0;overflow-wrap:anywhere}
.muted{color:#6b7280}
.badge{display:inline-block;margin-left:.4rem;padding:0 .5rem;border-radius:999px;
font-size:.8rem;background:#e5e7eb;color:#374151}
.badge.ok{background:#dcfce7;color:#166534}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:#f4f5f7;border-radius:8px;padding:.75rem;overflow:auto;margin:.5rem 0 0}
details{margin-top:1rem}
.actions{display:flex;flex-wrap:wrap;gap:.6rem;margin-top:1.25rem}
@media (max-width:30rem){dl{grid-template-columns:1fr}dd{margin-bottom:.4rem}
.card{padding:1.1rem}}
"""


@dataclass(frozen=True, slots=True)
class SignIn:
    """One sign-in button: the provider's title and the app path that starts its login."""

    title: str
    url: str


def display_name(user: User) -> str:
    """The best human name a provider gave us (the id as a last resort)."""
    return user.name or user.username or user.email or user.id


def _sign_out_form(logout_url: str, *, css_class: str = "", label: str = "Sign out") -> str:
    klass = f' class="{escape(css_class)}"' if css_class else ""
    return (
        f'<form class="inline" method="post" action="{escape(logout_url)}">'
        f'<button type="submit"{klass}>{escape(label)}</button></form>'
    )


def _layout(title: str, body: str, *, user: User | None, logout_url: str) -> str:
    """A complete document; ``body`` must already be escaped HTML."""
    if user is None:
        nav = '<a href="/">Home</a>'
    else:
        nav = (
            f'<span class="who">{escape(display_name(user))}</span>'
            '<a href="/profile">Profile</a>' + _sign_out_form(logout_url)
        )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="referrer" content="same-origin">'
        f"<title>{escape(title)} · {escape(APP_NAME)}</title><style>{_CSS}</style></head>"
        f'<body><header><div class="bar"><a class="brand" href="/">{escape(APP_NAME)}</a>'
        f'<nav aria-label="Account">{nav}</nav></div></header>'
        f"<main>{body}</main></body></html>\n"
    )


def home_page(
    *,
    user: User | None,
    sign_ins: Sequence[SignIn],
    logout_url: str,
    dev_active: bool,
    open_at: str | None = None,
) -> str:
    """``/``: sign-in buttons, or who is signed in; ``open_at``: the app's public URL, when
    the browser reached it under another address (the sign-in could not complete there)."""
    parts: list[str] = []
    if open_at is not None:
        parts.append(
            '<p class="warning">Sign-in comes back to <a href="'
            f'{escape(open_at)}/">{escape(open_at)}</a>, not to the address you opened: '
            "open the app there, or your browser will not have the sign-in cookie when you "
            "return.</p>"
        )
    if dev_active:
        parts.append(
            '<p class="warning"><strong>Development sign-in is active.</strong> It lets anyone '
            "sign in as anyone, without a password. Never use it in production: configure a "
            "real provider and set <code>DEV_PROVIDER=0</code>.</p>"
        )
    if user is None:
        buttons = "".join(
            f'<a class="btn primary" href="{escape(s.url)}">Sign in with {escape(s.title)}</a>'
            for s in sign_ins
        )
        parts.append(
            '<section class="card"><h1>Welcome</h1>'
            "<p>This small app shows aiohttp-oauth2-login at work: sign in with one of the "
            "providers below, then open your profile page, which only signed-in users can "
            "see.</p>"
            f'<div class="buttons">{buttons}</div></section>'
        )
    else:
        parts.append(
            '<section class="card">'
            f"<h1>Hello, {escape(display_name(user))}</h1>"
            "<p>You are signed in. Your session lives in an encrypted cookie.</p>"
            '<div class="actions"><a class="btn primary" href="/profile">Your profile</a>'
            '<a class="btn" href="/api/me">/api/me (JSON)</a>'
            f"{_sign_out_form(logout_url)}</div></section>"
        )
    return _layout("Home", "".join(parts), user=user, logout_url=logout_url)


def _value(value: str | None) -> str:
    return escape(value) if value else '<span class="muted">(not provided)</span>'


def _api_section(api: ApiDemo | None) -> str:
    """The "From the provider's API" card: what ``get_client`` fetched as this user."""
    if api is None:
        return ""
    if api.status is None:
        result = "<p>The provider's API could not be reached.</p>"
    elif api.status != 200:
        result = f"<p>The provider's API answered HTTP {api.status}.</p>"
    elif api.items:
        result = "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in api.items) + "</ul>"
    else:
        result = "<p>Nothing to show.</p>"
    return (
        '<section class="card"><h2>From the provider\'s API</h2>'
        f"<p>{escape(api.title)}, fetched as you with <code>get_client</code> from "
        f"<code>{escape(api.url)}</code>.</p>{result}</section>"
    )


def profile_page(
    *, user: User, provider_title: str, logout_url: str, api: ApiDemo | None = None
) -> str:
    """``/profile``: every field of the ``User``; the avatar URL as text, never loaded."""
    if user.email:
        badge = (
            '<span class="badge ok">verified</span>'
            if user.email_verified
            else '<span class="badge">not verified</span>'
        )
        email = escape(user.email) + badge
    else:
        email = _value(None)
    rows = [
        ("Provider", f"{escape(provider_title)} <code>{escape(user.provider)}</code>"),
        ("ID", f"<code>{escape(user.id)}</code>"),
        ("Name", _value(user.name)),
        ("Email", email),
        ("Username", _value(user.username)),
        ("Avatar URL", _value(user.avatar_url)),
    ]
    fields = "".join(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in rows)
    raw = json.dumps(dict(user.raw), indent=2, sort_keys=True, default=str)
    body = (
        '<section class="card"><h1>Your profile</h1>'
        "<p>What the provider told the app about you (the avatar is not loaded: this page "
        "fetches nothing from other sites).</p>"
        f"<dl>{fields}</dl>"
        "<details><summary>Profile claims kept in the session</summary>"
        f"<pre>{escape(raw)}</pre></details>"
        '<div class="actions"><a class="btn" href="/">Home</a>'
        '<a class="btn" href="/api/me">/api/me (JSON)</a>'
        f"{_sign_out_form(logout_url, css_class='primary')}</div></section>" + _api_section(api)
    )
    return _layout("Your profile", body, user=user, logout_url=logout_url)
