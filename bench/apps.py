"""The server variants ``make bench`` compares; run one with ``python -m bench.apps VARIANT PORT``.

Every variant answers ``GET /`` with a tiny JSON body. Plugin variants also serve
``GET /__bench/cookie``, which returns the Cookie header of a signed-in session whose token set
has the size of a real provider's (GitHub-sized or Google-sized). The ``public_*`` pairs are one
app with and without ``setup_oauth`` (same public handler, same other middleware); the
``client_*`` variants call a loopback API through ``get_client`` or by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import secrets
import time
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp_session import setup as setup_session
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from aiohttp_oauth2_login import (
    TokenSet,
    User,
    get_client,
    login_required,
    setup_oauth,
)
from aiohttp_oauth2_login._sessions.schema import NAMESPACE, login_payload
from aiohttp_oauth2_login.providers import OAuth2Provider, OIDCProvider

KEY = base64.urlsafe_b64encode(b"b" * 32).decode()
BODY = b'{"ok":true}'
VARIANTS = (
    "bare",
    "bare_cookie",
    "plugin_github",
    "plugin_google",
    "plugin_redis",
    "session_fernet",
    "public_app",
    "public_plugin",
    "public_app_nomw",
    "public_plugin_nomw",
    "client_shared",
    "client_pooled",
    "client_new_session",
)
#: a bearer token of the GitHub-sized token set's length, for the hand-written API handler
BEARER = "gho_" + "b" * 36


def _b64(n: int) -> str:
    return base64.urlsafe_b64encode(os.urandom(n)).rstrip(b"=").decode()


def _id_token(size: int = 1200) -> str:
    """A JWT-shaped string of a real Google ID token's size (only the size matters here)."""
    return f"eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ.{_b64(size * 3 // 4 - 200)}.{_b64(256)}"


def token_set(kind: str) -> tuple[User, TokenSet]:
    """A GitHub-sized or Google-sized signed-in user and token set."""
    now = int(time.time())
    if kind == "github":
        user = User(
            provider="bench",
            id="583231",
            name="The Octocat",
            username="octocat",
            email="octocat@github.com",
            email_verified=True,
            avatar_url="https://avatars.githubusercontent.com/u/583231?v=4",
            raw={"login": "octocat", "id": 583231, "type": "User", "company": "@github"},
        )
        return user, TokenSet(access_token="gho_" + _b64(27), expires_at=None, scope="read:user")
    user = User(
        provider="bench",
        id="1" + str(secrets.randbelow(10**20)),
        name="Jane Example",
        email="jane@example.com",
        email_verified=True,
        avatar_url="https://lh3.googleusercontent.com/a/" + _b64(60),
        raw={"hd": "example.com", "locale": "en", "given_name": "Jane", "family_name": "Example"},
    )
    token = TokenSet(
        access_token="ya29." + _b64(160),
        expires_at=now + 3600,
        refresh_token="1//0" + _b64(75),
        scope="openid email profile",
        id_token=_id_token(),
    )
    return user, token


async def hello(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


@login_required
async def protected(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


async def session_read(request: web.Request) -> web.Response:
    from aiohttp_session import get_session

    session = await get_session(request)
    _ = session.get("oauth")
    return web.Response(body=BODY, content_type="application/json")


def _bench_provider(kind: str, api: str | None) -> OAuth2Provider:
    if kind == "google":
        # keeps the ID token in the session, as RP-initiated logout does: the ~3 KB case
        return OIDCProvider(
            name="bench",
            issuer="https://accounts.example.com",
            client_id="id",
            client_secret="secret",
            rp_initiated_logout=True,
            api_base_url=api,
        )
    return OAuth2Provider(
        name="bench",
        client_id="id",
        client_secret="secret",
        authorize_url="https://idp.example/authorize",
        token_url="https://idp.example/token",
        userinfo_url="https://idp.example/user",
        api_base_url=api,
    )


@web.middleware
async def app_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """An ordinary app middleware (a response header), present with and without the plugin."""
    response: web.StreamResponse = await handler(request)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def make_app(
    variant: str, *, redis_url: str | None = None, api: str | None = None
) -> web.Application:
    app = web.Application()
    if variant in ("public_app", "public_plugin"):
        app.middlewares.append(app_middleware)
    if variant in ("bare", "bare_cookie", "public_app", "public_app_nomw"):
        app.router.add_get("/", hello)
        return app
    if variant == "session_fernet":
        storage = EncryptedCookieStorage(os.urandom(32), cookie_name="aiohttp_oauth2")
        setup_session(app, storage)
        app.router.add_get("/", session_read)

        async def fernet_cookie(request: web.Request) -> web.Response:
            user, token = token_set("google")
            session = await storage.new_session()
            session[NAMESPACE] = login_payload(
                user=user, provider="bench", token=token, scope="", keep_id_token=True
            )
            response = web.Response(text="ok")
            await storage.save_session(request, response, session)
            return response

        app.router.add_get("/__bench/cookie", fernet_cookie)
        return app
    kind = "google" if variant in ("plugin_google", "plugin_redis") else "github"
    provider = _bench_provider(kind, api)
    options: dict[str, Any] = (
        {"redis_url": redis_url, "secret_key": KEY}
        if variant == "plugin_redis"
        else {"secret_key": KEY}
    )
    login = setup_oauth(app, providers=[provider], **options)
    if variant in ("public_plugin", "public_plugin_nomw"):
        app.router.add_get("/", hello)  # public: never asks who is signed in
    elif variant == "client_pooled":
        app.router.add_get("/", call_api)
    elif variant == "client_new_session":
        app.router.add_get("/", call_api_new_session)
    elif variant == "client_shared":
        assert api is not None, "client_shared needs --api"
        shared_api(app, api)
    else:
        app.router.add_get("/", protected)

    async def cookie(request: web.Request) -> web.Response:
        user, token = token_set(kind)
        session = await login.storage.new_session()
        session[NAMESPACE] = login_payload(
            user=user,
            provider="bench",
            token=token,
            scope=login.config.scope.path,
            keep_id_token=provider.keeps_id_token,
        )
        response = web.Response(text="ok")
        await login.storage.save_session(request, response, session)
        return response

    app.router.add_get("/__bench/cookie", cookie)
    return app


@login_required
async def call_api(request: web.Request) -> web.Response:
    client = await get_client(request)
    async with client.get("/ping") as resp:
        await resp.read()
    return web.Response(body=BODY, content_type="application/json")


@login_required
async def call_api_new_session(request: web.Request) -> web.Response:
    client = await get_client(request)
    url = client.resolve("/ping")
    async with aiohttp.ClientSession() as session:  # the anti-pattern, for comparison
        headers = {"Authorization": f"Bearer {client.token.access_token}"}
        async with session.get(url, headers=headers) as resp:
            await resp.read()
    return web.Response(body=BODY, content_type="application/json")


def shared_api(app: web.Application, api: str) -> None:
    """The limit for ``get_client``: a hand-written ``@login_required`` handler reusing ONE
    ``ClientSession`` (made at startup) with a fixed bearer token of the same length."""
    key = web.AppKey("bench_shared_session", aiohttp.ClientSession)
    url = f"{api.rstrip('/')}/ping"
    headers = {"Authorization": f"Bearer {BEARER}"}

    async def open_session(app: web.Application) -> Any:
        app[key] = aiohttp.ClientSession()
        yield
        await app[key].close()

    @login_required
    async def call_api_shared(request: web.Request) -> web.Response:
        async with request.app[key].get(url, headers=headers) as resp:
            await resp.read()
        return web.Response(body=BODY, content_type="application/json")

    app.cleanup_ctx.append(open_session)
    app.router.add_get("/", call_api_shared)


def api_app() -> web.Application:
    """The loopback API the client variants call."""
    app = web.Application()
    app.router.add_get("/ping", hello)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("variant", choices=(*VARIANTS, "api"))
    parser.add_argument("port", type=int)
    parser.add_argument("--redis-url")
    parser.add_argument("--api")
    args = parser.parse_args()
    app = (
        api_app()
        if args.variant == "api"
        else make_app(args.variant, redis_url=args.redis_url, api=args.api)
    )
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
