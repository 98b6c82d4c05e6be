"""The example application of aiohttp-oauth2-login: ``python -m example_app``.

``create_app(public_url=...)`` builds the app: a home page with a sign-in button per provider,
a protected ``/profile`` page and ``/api/me`` endpoint, and the plugin's routes under ``/auth``.
Providers come from environment variables (see ``example_app.providers``); with none configured
the package's fake provider is mounted under ``/dev-provider`` as an offline development
provider.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from aiohttp import web
from yarl import URL

from aiohttp_oauth2_login import (
    OAuthLogin,
    generate_key,
    get_user,
    login_required,
    require_login,
    setup_oauth,
)
from aiohttp_oauth2_login.providers import Provider

from .api_demo import fetch_api_demo
from .pages import SECURITY_HEADERS, SignIn, home_page, profile_page
from .providers import DEV_MOUNT, DEV_NAME, dev_provider, providers_from_env, want_dev_provider

__all__ = ["LOGIN_KEY", "create_app", "secret_keys"]

logger = logging.getLogger("example_app")

LOGIN_KEY = web.AppKey("example_app_login", OAuthLogin)
DEV_ACTIVE_KEY = web.AppKey("example_app_dev_active", bool)
PUBLIC_URL_KEY = web.AppKey("example_app_public_url", str)

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

_NO_STORE = {"Cache-Control": "no-store"}


def secret_keys(environ: Mapping[str, str]) -> list[str]:
    """``SECRET_KEY``: one key, or several separated by commas (newest first, for rotation)."""
    return [key.strip() for key in environ.get("SECRET_KEY", "").split(",") if key.strip()]


def _html(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/html", headers=_NO_STORE)


def _wrong_address(request: web.Request, public_url: str) -> bool:
    """A local development setup reached as ``localhost`` while it is ``127.0.0.1`` (or the
    reverse): cookies set here would be missing at the callback. Behind a proxy the ``Host``
    may legitimately differ, so only loopback public URLs are checked."""
    public = URL(public_url)
    if public.host not in _LOOPBACK:
        return False
    return request.host.lower() != (public.raw_authority or "").lower()


async def home(request: web.Request) -> web.Response:
    login = request.app[LOGIN_KEY]
    public_url = request.app[PUBLIC_URL_KEY]
    sign_ins = [
        SignIn(title=provider.title, url=login.login_url(name, next="/profile"))
        for name, provider in login.providers.items()
    ]
    page = home_page(
        user=await get_user(request),
        sign_ins=sign_ins,
        logout_url=login.logout_url(),
        dev_active=request.app[DEV_ACTIVE_KEY],
        open_at=public_url if _wrong_address(request, public_url) else None,
    )
    return _html(page)


@login_required
async def profile(request: web.Request) -> web.Response:
    login = request.app[LOGIN_KEY]
    user = await require_login(request)  # the decorator already let only signed-in users in
    provider = login.providers.get(user.provider)
    page = profile_page(
        user=user,
        provider_title=provider.title if provider is not None else user.provider,
        logout_url=login.logout_url(),
        api=await fetch_api_demo(request, user.provider),
    )
    return _html(page)


@login_required
async def api_me(request: web.Request) -> web.Response:
    user = await require_login(request)
    body = {
        "provider": user.provider,
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "email_verified": user.email_verified,
        "username": user.username,
        "avatar_url": user.avatar_url,
    }
    return web.json_response(body, headers=_NO_STORE)


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Security headers on every answer; pages that set their own (the plugin's, the dev
    provider's) keep them."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


def create_app(*, public_url: str, environ: Mapping[str, str] | None = None) -> web.Application:
    """Build the example app; ``public_url`` is the origin browsers use to reach it.

    ``environ`` defaults to ``os.environ``; raises ``ValueError`` on inconsistent configuration.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    public_url = public_url.rstrip("/")
    providers: list[Provider] = providers_from_env(env)
    real_names = [p.name for p in providers]
    dev_active = want_dev_provider(env, providers)

    app = web.Application()
    if dev_active:
        if DEV_NAME in real_names:
            raise ValueError(f"the provider name {DEV_NAME!r} is taken by the development provider")
        dev = dev_provider(public_url)
        app.add_subapp(DEV_MOUNT, dev.fake.make_app())
        providers.append(dev.provider)
    if not providers:
        raise ValueError(
            "no sign-in provider: set GITHUB_/GOOGLE_/FACEBOOK_CLIENT_ID and _CLIENT_SECRET, "
            "OIDC_ISSUER/OIDC_CLIENT_ID/OIDC_CLIENT_SECRET, or DEV_PROVIDER=1"
        )

    keys = secret_keys(env)
    login = setup_oauth(
        app,
        providers=providers,
        # without SECRET_KEY: a random key per process, passed explicitly (we warn below)
        secret_key=keys or generate_key(),
        public_url=public_url,
    )
    app[LOGIN_KEY] = login
    app[DEV_ACTIVE_KEY] = dev_active
    app[PUBLIC_URL_KEY] = public_url

    app.router.add_get("/", home, name="home")
    app.router.add_get("/profile", profile, name="profile")
    app.router.add_get("/api/me", api_me, name="api_me")
    app.on_response_prepare.append(_security_headers)

    async def announce(app: web.Application) -> None:
        if dev_active:
            logger.warning(
                "DEVELOPMENT SIGN-IN PROVIDER ACTIVE at %s%s: anyone can sign in as anyone. "
                "Never use it in production (set DEV_PROVIDER=0 and configure a real provider).",
                public_url,
                DEV_MOUNT,
            )
        if real_names:
            logger.info("sign-in providers from the environment: %s", ", ".join(real_names))
        if not keys:
            logger.warning(
                "SECRET_KEY is not set: using a random key, so sessions end when the process "
                "restarts (create one with 'python -m aiohttp_oauth2_login keygen')"
            )
        logger.info("open %s/ in a browser", public_url)

    app.on_startup.append(announce)
    return app
