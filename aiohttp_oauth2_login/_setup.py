"""``setup_oauth``: validate everything, choose the session backend, store the ``OAuthLogin``
handle, then wire the app (the login sub-app, where sessions are saved, startup and cleanup).

No app-wide middleware by default: any middleware on an app (or on a sub-app of it: aiohttp then
runs the middleware chain for the whole tree) costs every request, public routes included. The
session is attached per request by what needs it and saved by ``@login_required``, the login
routes, or one ``on_response_prepare`` receiver for plain handlers (``_sessions.middleware``).
``session_middleware=True`` (implied by ``carry_session_keys``) restores the app-wide middleware
for apps whose own handlers call ``aiohttp_session.get_session``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping, Sequence
from datetime import timedelta

import aiohttp
import aiohttp_session
from aiohttp import web
from yarl import URL

from ._guard import check_session_cookies
from ._login import add_routes
from ._oauth.http import HttpLimits
from ._pages import PAGES_KEY, Render, page_settings
from ._plugin import OAuthLogin
from ._sessions.backend import check_redis_url, choose_backend, choose_secret
from ._sessions.cookie_storage import COOKIE_NAME_PATTERN, parse_keys
from ._sessions.middleware import (
    hint_missing_middleware,
    save_on_prepare,
    spend_string_key_warnings,
)
from ._sessions.middleware import session_middleware as make_session_middleware
from ._sessions.schema import NAMESPACE
from ._sessions.transactions import TransactionCookies
from .config import (
    OAuthConfig,
    OnLogin,
    parse_default_next,
    parse_domains,
    parse_duration,
    parse_prefix,
    parse_public_url,
    parse_session_keys,
)
from .errors import ConfigurationError
from .keys import APP_KEY, LOGIN_APP_KEY
from .providers.base import Provider

__all__ = ["OAuthLogin", "setup_oauth"]


def _is_async_callable(obj: object) -> bool:
    while isinstance(obj, functools.partial):
        obj = obj.func
    return inspect.iscoroutinefunction(obj) or (
        callable(obj) and inspect.iscoroutinefunction(obj.__call__)
    )


def _check_providers(providers: object) -> list[Provider]:
    if isinstance(providers, Provider) or not isinstance(providers, Sequence) or not providers:
        raise ConfigurationError("providers must be a non-empty list of Provider instances")
    checked: list[Provider] = []
    names: set[str] = set()
    issuers: dict[str, str] = {}
    for provider in providers:
        if not isinstance(provider, Provider):
            raise ConfigurationError(f"{provider!r} is not an aiohttp_oauth2_login Provider")
        if provider.name in names:
            raise ConfigurationError(f"two providers are named {provider.name!r}")
        names.add(provider.name)
        if provider.issuer is not None:
            if provider.issuer in issuers:  # RFC 9207 mix-up defence needs distinct issuers
                raise ConfigurationError(
                    f"providers {issuers[provider.issuer]!r} and {provider.name!r} share the "
                    f"issuer {provider.issuer!r}"
                )
            issuers[provider.issuer] = provider.name
        checked.append(provider)
    return checked


def setup_oauth(
    app: web.Application,
    *,
    providers: Sequence[Provider],
    secret_key: str | bytes | Sequence[str | bytes] | None = None,
    storage: aiohttp_session.AbstractStorage | None = None,
    prefix: str = "/auth",
    public_url: str | URL | None = None,
    default_next: str = "/",
    on_login: OnLogin | None = None,
    session_lifetime: int | timedelta = timedelta(days=7),
    idle_timeout: int | timedelta = timedelta(days=1),
    http_timeout: float = 10.0,
    client_session: aiohttp.ClientSession | None = None,
    cookie_name: str = "aiohttp_oauth2",
    allowed_email_domains: Sequence[str] | None = None,
    redis_url: str | None = None,
    site_name: str | None = None,
    render: Render | None = None,
    translations: Mapping[str, Mapping[str, str]] | None = None,
    languages: Sequence[str] | None = None,
    carry_session_keys: Sequence[str] = (),
    session_middleware: bool | None = None,
) -> OAuthLogin:
    """Add OAuth2 / OpenID Connect login to ``app``; docs/configuration.md explains every option."""
    # 1. validate everything before touching the app
    if APP_KEY in app:
        raise ConfigurationError("setup_oauth was already called on this application")
    if app.router.frozen:
        raise ConfigurationError(
            "setup_oauth must be called before the application is started or mounted"
        )
    checked = _check_providers(providers)
    public = parse_public_url(public_url)
    lifetime = parse_duration(session_lifetime, "session_lifetime")
    if on_login is not None and not _is_async_callable(on_login):
        raise ConfigurationError("on_login must be an async function (request, user, token)")
    if isinstance(http_timeout, bool) or not isinstance(http_timeout, int | float):
        raise ConfigurationError("http_timeout must be a number of seconds")
    if not 0 < http_timeout <= 120:
        raise ConfigurationError("http_timeout must be between 0 and 120 seconds")
    secure = public is not None and public.scheme == "https"
    config = OAuthConfig(
        prefix=parse_prefix(prefix),
        public_url=public,
        default_next=parse_default_next(default_next),
        session_lifetime=lifetime,
        idle_timeout=min(parse_duration(idle_timeout, "idle_timeout"), lifetime),
        limits=HttpLimits(
            total_timeout=float(http_timeout), connect_timeout=min(5.0, http_timeout)
        ),
        on_login=on_login,
        secure_cookies=secure,
        provider_names=frozenset(p.name for p in checked),
        allowed_email_domains=parse_domains(allowed_email_domains),
        pages=page_settings(
            site_name=site_name, render=render, translations=translations, languages=languages
        ),
        carry_session_keys=parse_session_keys(carry_session_keys, NAMESPACE),
    )
    if session_middleware is not None and not isinstance(session_middleware, bool):
        raise ConfigurationError("session_middleware must be True, False or None (automatic)")
    if redis_url is not None and storage is not None:
        raise ConfigurationError("pass either redis_url= or storage=, not both")
    if storage is not None and not isinstance(storage, aiohttp_session.AbstractStorage):
        raise ConfigurationError("storage must be an aiohttp_session.AbstractStorage")
    if redis_url is not None:
        check_redis_url(redis_url)
    if not COOKIE_NAME_PATTERN.fullmatch(str(cookie_name)):
        raise ConfigurationError(f"cookie_name {cookie_name!r} is not a valid cookie name")
    secret = choose_secret(secret_key, secure=secure)
    backend = choose_backend(
        app,
        storage=storage,
        redis_url=redis_url,
        secret=secret,
        config=config,
        cookie_name=cookie_name,
    )
    check_session_cookies(backend.storage, public)  # Secure vs how the site is served
    # 2. store, 3. wire
    login = OAuthLogin(
        config=config,
        providers=checked,
        backend=backend,
        client_session=client_session,
        tx_cookies=TransactionCookies(parse_keys(secret), base_name=cookie_name, secure=secure),
    )
    add_routes(login)
    login.login_app[LOGIN_APP_KEY] = login
    login.login_app[PAGES_KEY] = app[PAGES_KEY] = config.pages
    app[APP_KEY] = login
    spend_string_key_warnings()  # also when the app's own aiohttp-session middleware is reused
    if session_middleware is None:  # the app keeps its own data in the session: it needs one
        session_middleware = bool(config.carry_session_keys)
    if backend.reused:
        pass  # the app's own aiohttp-session middleware loads and saves every session
    elif session_middleware:
        app.middlewares.append(make_session_middleware(backend))
    else:
        app.on_response_prepare.append(save_on_prepare)  # a plain handler's changed session
        hint_missing_middleware()
    app.add_subapp(config.prefix, login.login_app)
    app.cleanup_ctx.append(login._client_session_ctx)
    app.on_startup.append(login._bind)
    app.on_startup.append(login._log_redirect_uris)
    return login
