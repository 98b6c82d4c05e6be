"""Applications the doctor tests point ``python -m aiohttp_oauth2_login check`` at.

``make_app`` is configured through the environment, so the in-process runs and the real
subprocess build the same app: ``DOCTOR_ISSUER`` (required), ``DOCTOR_PUBLIC_URL`` (``none``
for no public_url), ``DOCTOR_NO_KEY`` (no secret_key), ``DOCTOR_ALGS`` (id_token_algorithms),
``DOCTOR_HTTP_TIMEOUT``.
"""

from __future__ import annotations

import os
from typing import Any

import aiohttp_session
from aiohttp import web

from aiohttp_oauth2_login import setup_oauth
from aiohttp_oauth2_login.providers import GitHub, OIDCProvider

#: a fixed test key (32 bytes, url-safe base64) and client secret: never printed by the doctor
KEY = "ZG9jdG9yLXRlc3Qta2V5LTAxMjM0NTY3ODlhYmNkZWY="
CLIENT_SECRET = "doctor-client-secret-2f6c1e"
GITHUB_SECRET = "github-secret-9d8c7b6a5f4e3d2c1b0a"


def make_app() -> web.Application:
    env = os.environ
    options: dict[str, Any] = {}
    if env.get("DOCTOR_ALGS"):
        options["id_token_algorithms"] = env["DOCTOR_ALGS"].split(",")
    provider = OIDCProvider(
        name="op",
        issuer=env["DOCTOR_ISSUER"],
        client_id="test-client",
        client_secret=CLIENT_SECRET,
        **options,
    )
    public = env.get("DOCTOR_PUBLIC_URL", "http://127.0.0.1:8080")
    app = web.Application()
    setup_oauth(
        app,
        providers=[provider],
        secret_key=None if env.get("DOCTOR_NO_KEY") else KEY,
        public_url=None if public == "none" else public,
        http_timeout=float(env.get("DOCTOR_HTTP_TIMEOUT", "10")),
    )
    return app


async def make_app_async() -> web.Application:
    """The same app from an async factory."""
    return make_app()


def _github_app() -> web.Application:
    app = web.Application()
    setup_oauth(
        app,
        providers=[GitHub(client_id="Iv1.doctor", client_secret=GITHUB_SECRET)],
        secret_key=KEY,
        public_url="https://app.example.com",
    )
    return app


#: ``MODULE:app``: an Application object rather than a factory (GitHub: no discovery to fetch)
app = _github_app()


def nested() -> web.Application:
    """One login in a sub-app at /api, another in an app mounted two levels down (/admin/inner)."""
    root = web.Application()
    api = _github_app()
    inner = web.Application()
    setup_oauth(
        inner,
        providers=[GitHub(client_id="Iv1.inner", client_secret=GITHUB_SECRET)],
        secret_key=KEY,
        public_url="https://app.example.com",
        cookie_name="admin_session",
    )
    admin = web.Application()
    admin.add_subapp("/inner", inner)
    root.add_subapp("/api", api)
    root.add_subapp("/admin", admin)
    return root


def _own_storage_app(public_url: str | None, **cookie: object) -> web.Application:
    """The app's own aiohttp-session middleware, reused by setup_oauth."""
    app = web.Application()
    aiohttp_session.setup(app, aiohttp_session.SimpleCookieStorage(**cookie))  # type: ignore[arg-type]
    setup_oauth(
        app,
        providers=[GitHub(client_id="Iv1.doctor", client_secret=GITHUB_SECRET)],
        secret_key=KEY,
        public_url=public_url,
    )
    return app


def secure_storage_over_http() -> web.Application:
    """The storage says Secure, but the site is plain http (sign-in would loop)."""
    return _own_storage_app("http://127.0.0.1:8080", secure=True, samesite="Lax")


def secure_storage_without_public_url() -> web.Application:
    return _own_storage_app(None, secure=True, samesite="Lax")


def lax_storage_over_https() -> web.Application:
    """The storage of an app that never thought about cookies, on an https site."""
    return _own_storage_app("https://app.example.com", domain="example.com", httponly=False)


def placeholder_and_no_key() -> web.Application:
    """README values copied as they are: client_id '...', no secret_key, no public_url."""
    app = web.Application()
    setup_oauth(app, providers=[GitHub(client_id="...", client_secret=GITHUB_SECRET)])
    return app


def refused_by_setup() -> web.Application:
    """setup_oauth refuses this configuration (ConfigurationError while building)."""
    app = web.Application()
    setup_oauth(app, providers=[], secret_key=KEY)
    return app


def no_login() -> web.Application:
    return web.Application()


def needs_arguments(argv: list[str], config: str) -> web.Application:
    return web.Application()


def init_func(argv: list[str]) -> web.Application:
    """aiohttp's ``python -m aiohttp.web`` factory style: the doctor passes an empty argv."""
    if argv != []:
        raise AssertionError(f"expected an empty argv, got {argv!r}")
    return _github_app()


def not_an_app() -> int:
    return 42


def one_setup_without_key() -> web.Application:
    """Two setups, the second one without secret_key: the doctor names its call site."""
    root = _github_app()
    dev = web.Application()
    setup_oauth(dev, providers=[GitHub(client_id="Iv1.dev", client_secret=GITHUB_SECRET)])
    root.add_subapp("/dev", dev)
    return root
