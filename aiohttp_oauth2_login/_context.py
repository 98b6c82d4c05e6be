"""``login_context``: what the app's own templates need for "Sign in with …" buttons and a
"signed in as …" line, in the visitor's language."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from ._login.pages import provider_buttons
from ._pages import ProviderButton, Translator, translator_for
from ._urls import safe_next
from .auth import _current_user, get_login
from .user import User

__all__ = ["LoginContext", "login_context"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LoginContext:
    """The visitor's login state and the plugin's links, for a page of the app.

    ``providers``: one ``ProviderButton`` per provider (``label`` is "Sign in with …"
    translated, ``login_url`` keeps ``next``, ``icon_svg`` is inline SVG). ``logout_url``:
    GET shows the confirmation page, a POST form (with a hidden ``next`` field) signs out.
    ``gettext`` translates English text with the site's catalogs into ``language``.
    """

    user: User | None
    providers: tuple[ProviderButton, ...]
    login_url: str
    logout_url: str
    next: str
    language: str
    gettext: Callable[..., str] = field(default=Translator("en"), repr=False)


async def login_context(request: web.Request, *, next: str | None = None) -> LoginContext:
    """``ctx = await login_context(request)``: the signed-in user (or ``None``), a button per
    provider and the login/logout URLs, each returning to ``next`` (default: this page)."""
    login = get_login(request)
    wanted = request.rel_url.path_qs if next is None else next
    next_ = safe_next(wanted, login.config.default_next)
    t = translator_for(request)
    return LoginContext(
        user=await _current_user(request, login),
        providers=provider_buttons(login, t, next_),
        login_url=login.login_url(next=next_),
        logout_url=login.logout_url(),
        next=next_,
        language=t.language,
        gettext=t,
    )
