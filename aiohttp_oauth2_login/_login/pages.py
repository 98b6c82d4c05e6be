"""The login sub-app's pages: the provider chooser and the sign-out confirmation, as
``PageContext`` for the app's hook or templates (``_pages`` draws them)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from .._pages import (
    SECURITY_HEADERS,
    ProviderButton,
    Translator,
    json_response,
    page_context,
    provider_button,
    render_page,
    translator_for,
    wants_json,
)
from .._urls import external_path, safe_next
from ..user import User

if TYPE_CHECKING:
    from .._plugin import OAuthLogin

__all__ = ["chooser_page", "logout_page", "provider_buttons"]


def provider_buttons(
    login: OAuthLogin, t: Translator, next_: str | None
) -> tuple[ProviderButton, ...]:
    """A "Sign in with …" button per provider, in configuration order, each keeping ``next``."""
    return tuple(
        provider_button(
            t,
            name=p.name,
            title=p.title,
            login_url=login.login_url(p.name, next=next_),
            kind=type(p).default_name,
        )
        for p in login.providers.values()
    )


async def chooser_page(request: web.Request, login: OAuthLogin) -> web.StreamResponse:
    """GET /auth/login: the provider list (HTML, or JSON for API clients)."""
    next_ = safe_next(request.query.get("next"), login.config.default_next)
    t = translator_for(request)
    buttons = provider_buttons(login, t, next_)
    if wants_json(request):
        return json_response(
            {
                "providers": [
                    {"name": b.name, "title": b.title, "login_url": b.login_url} for b in buttons
                ]
            }
        )
    texts = {"intro": t("Choose how to sign in.")}
    ctx = page_context(
        request, "chooser", "Sign in", t=t, texts=texts, providers=buttons, next=next_
    )
    return await render_page(request, ctx)


async def logout_page(
    request: web.Request,
    login: OAuthLogin,
    *,
    user: User | None,
    next_: str,
    headers: Mapping[str, str] = SECURITY_HEADERS,
) -> web.Response:
    """GET /auth/logout: who is signed in, "Sign out" (a POST form) and "Stay signed in"
    (back to ``next``). Changes nothing."""
    t = translator_for(request)
    texts = {
        "question": t("Do you want to sign out?"),
        "sign_out": t("Sign out"),
        "stay": t("Stay signed in"),
        "not_signed_in": t("You are not signed in."),
    }
    if user is not None:
        provider = login.providers.get(user.provider)
        title = provider.title if provider is not None else user.provider
        texts["signed_in_with"] = t("Signed in with {provider}", provider=title)
    links = {"logout": login.logout_url(), "stay": external_path(login.config.public_url, next_)}
    ctx = page_context(
        request, "logout", "Sign out", t=t, texts=texts, links=links, user=user, next=next_
    )
    return await render_page(request, ctx, headers=headers)
