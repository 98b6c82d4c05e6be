"""``setup_oauth``: validate everything, store the ``OAuthLogin`` handle, then wire the app."""

from __future__ import annotations

import functools
import inspect
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp
import aiohttp_session
from aiohttp import web
from aiohttp_session.redis_storage import RedisStorage
from yarl import URL

from ._login import add_routes
from ._oauth.http import HttpLimits
from ._oauth.refresh import RefreshCoordinator
from ._pages import error_response
from ._sessions.cookie_storage import COOKIE_NAME_PATTERN, CookieStorage, generate_key, parse_keys
from ._sessions.peek import SLOW, PeekResult, peek_user
from ._sessions.transactions import TransactionCookies
from ._urls import external_path, external_url
from ._version import __version__
from .config import (
    OAuthConfig,
    OnLogin,
    parse_default_next,
    parse_domains,
    parse_duration,
    parse_prefix,
    parse_public_url,
)
from .errors import ConfigurationError, SessionStoreUnavailable, UnknownProvider
from .keys import APP_KEY, LOGIN_APP_KEY
from .log import logger
from .providers.base import Provider

if TYPE_CHECKING:
    from ._sessions.redis import RedisRefreshLock

__all__ = ["OAuthLogin", "setup_oauth"]

Middleware = aiohttp.typedefs.Middleware


async def _no_peek(request: web.Request, config: OAuthConfig) -> PeekResult:
    return SLOW


def _cookie_peek(
    storage: CookieStorage,
) -> Callable[[web.Request, OAuthConfig], Awaitable[PeekResult]]:
    async def peek(request: web.Request, config: OAuthConfig) -> PeekResult:
        return peek_user(request, config, storage)

    return peek


class OAuthLogin:
    """The handle ``setup_oauth`` returns: configuration, providers, the login sub-app, URLs."""

    def __init__(
        self,
        *,
        config: OAuthConfig,
        providers: Sequence[Provider],
        storage: aiohttp_session.AbstractStorage,
        client_session: aiohttp.ClientSession | None,
        tx_cookies: TransactionCookies,
        owns_redis: bool = False,
    ) -> None:
        self.config = config
        self.providers: dict[str, Provider] = {p.name: p for p in providers}
        self.storage = storage
        self.login_app = web.Application()
        self.tx_cookies = tx_cookies
        self.refresher = RefreshCoordinator()
        #: with server-side (Redis) sessions, refreshes are single-flight across instances
        self.refresh_lock: RedisRefreshLock | None = None
        #: the cheap login check for this storage (see _fastpath); SLOW means "load the session"
        self.peek: Callable[[web.Request, OAuthConfig], Awaitable[PeekResult]] = _no_peek
        if isinstance(storage, CookieStorage):
            self.peek = _cookie_peek(storage)
        if isinstance(storage, RedisStorage):
            from ._sessions.redis import (
                RedisPeek,
                RedisRefreshLock,
                RedisSessionStorage,
                client_warnings,
            )

            # waiters give up once a holder has had time for the refresh itself (the provider
            # call) and the Redis reads and writes around it
            wait = config.limits.total_timeout + 5.0
            self.refresh_lock = RedisRefreshLock(
                storage._redis, prefix=storage.cookie_name, wait=wait
            )
            if not owns_redis:
                for problem in client_warnings(storage._redis):
                    logger.warning(
                        "the Redis client of the session storage: %s; build it with "
                        "aiohttp_oauth2_login.redis.redis_client(url)",
                        problem,
                    )
            if isinstance(storage, RedisSessionStorage):
                self.peek = RedisPeek(storage).peek_user
        self._owns_redis = owns_redis
        self._injected = client_session
        self._http: aiohttp.ClientSession | None = client_session

    @property
    def http(self) -> aiohttp.ClientSession:
        """The one ``ClientSession`` of the plugin (exists while the app runs)."""
        if self._http is None or self._http.closed:
            raise RuntimeError(
                "the application is not running: the plugin's HTTP session is closed"
            )
        return self._http

    def provider(self, name: str) -> Provider:
        try:
            return self.providers[name]
        except KeyError:
            raise UnknownProvider() from None

    def _route_path(self, route: str, **parts: str) -> str:
        return self.login_app.router[route].url_for(**parts).path

    def login_url(self, provider: str | None = None, *, next: str | None = None) -> str:
        """Path of the login page, or of one provider's login route, with an optional ``next``."""
        if provider is None:
            url = URL(self._route_path("login"))
        else:
            self.provider(provider)
            url = URL(self._route_path("login_provider", provider=provider))
        if next is not None:
            url = url.with_query(next=next)
        return external_path(self.config.public_url, str(url))

    def cookie_path(self) -> str:
        """The path of the login sub-app as browsers see it (scope of the transaction cookies)."""
        login_path = self._route_path("login")
        return external_path(self.config.public_url, login_path.rsplit("/", 1)[0] + "/")

    def logout_url(self) -> str:
        return external_path(self.config.public_url, self._route_path("logout"))

    def redirect_uri(self, provider: str, request: web.Request | None = None) -> str:
        """The callback URL to register at ``provider`` (needs ``request`` without public_url)."""
        path = self._route_path("callback", provider=self.provider(provider).name)
        if self.config.public_url is None and request is None:
            raise ValueError("without public_url the redirect URI depends on the request")
        if request is None:
            assert self.config.public_url is not None  # noqa: S101
            return str(
                self.config.public_url.with_path(external_path(self.config.public_url, path))
            )
        return str(external_url(self.config.public_url, request, path))

    async def _client_session_ctx(self, app: web.Application) -> AsyncIterator[None]:
        """Own exactly one ClientSession for the app's lifetime (an injected one is not closed)."""
        if self._injected is not None:
            yield
            return
        self._http = aiohttp.ClientSession(
            timeout=self.config.limits.client_timeout,
            headers={"User-Agent": f"aiohttp-oauth2-login/{__version__}"},
            cookie_jar=aiohttp.DummyCookieJar(),  # shared by all users: never keep cookies
        )
        try:
            yield
        finally:
            await self._http.close()
            self._http = None
            if self.refresh_lock is not None:  # refreshed tokens not yet written are lost
                await self.refresh_lock.aclose()
            if self._owns_redis and isinstance(self.storage, RedisStorage):
                await self.storage._redis.aclose()

    async def _bind(self, app: web.Application) -> None:
        """Bind sessions and login transactions to this setup, now that the app tree is frozen
        and the login path final: two ``setup_oauth`` calls in one tree (``/public``,
        ``/admin``) never accept each other's sessions, whatever their keys."""
        scope = self.login_url()
        self.config.scope.path = scope
        self.tx_cookies.bind(scope)
        if isinstance(self.storage, CookieStorage):
            self.storage.bind(scope)
        elif isinstance(self.storage, RedisStorage):
            from ._sessions.redis import RedisSessionStorage

            if isinstance(self.storage, RedisSessionStorage):
                self.storage.bind(scope)

    async def _log_redirect_uris(self, app: web.Application) -> None:
        for name in self.providers:
            path = self._route_path("callback", provider=name)
            if self.config.public_url is not None:
                logger.info("redirect URI to register for %s: %s", name, self.redirect_uri(name))
            else:
                logger.info(
                    "redirect URI for %s: <origin of the request>%s (set public_url in production)",
                    name,
                    path,
                )


def _existing_session_storage(app: web.Application) -> aiohttp_session.AbstractStorage | None:
    """The storage of an aiohttp-session middleware already on ``app`` (reused, not doubled)."""
    for middleware in app.middlewares:
        if getattr(middleware, "__module__", None) == "aiohttp_session":
            found = inspect.getclosurevars(middleware).nonlocals.get("storage")
            if isinstance(found, aiohttp_session.AbstractStorage):
                return found
            raise ConfigurationError("cannot use the app's aiohttp-session middleware")
    return None


def _session_middleware(storage: aiohttp_session.AbstractStorage) -> Middleware:
    """aiohttp-session's middleware (same contract: the storage under ``STORAGE_KEY``, the
    session saved on a returned response or a raised ``HTTPException``), in one layer with the
    plugin's additions: skipped when a parent app already runs one, and a 503 page when a
    server-side store is down."""
    outage: tuple[type[BaseException], ...] = ()
    if isinstance(storage, RedisStorage):
        from ._sessions.redis import OUTAGE_ERRORS

        outage = OUTAGE_ERRORS
    storage_key, session_key = aiohttp_session.STORAGE_KEY, aiohttp_session.SESSION_KEY
    quiet: list[bool] = []

    @web.middleware
    async def oauth_session_middleware(
        request: web.Request, handler: aiohttp.typedefs.Handler
    ) -> web.StreamResponse:
        if request.get(storage_key) is not None:  # an outer session middleware is in charge
            return await handler(request)
        if quiet:
            request[storage_key] = storage
        else:  # aiohttp-session's key is a plain string: aiohttp warns once per process
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", web.NotAppKeyWarning)
                request[storage_key] = storage
            quiet.append(True)
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                await _save(request, exc)
                raise
            if isinstance(response, web.Response):  # not streamed or a websocket
                await _save(request, response)
            return response
        except outage as exc:  # Redis down: a clear 503, and service resumes by itself
            logger.error("session store unavailable: %s", type(exc).__name__)
            return error_response(request, SessionStoreUnavailable())

    async def _save(request: web.Request, response: web.StreamResponse) -> None:
        session = request.get(session_key)
        if session is not None and session._changed:
            if response.prepared:
                raise RuntimeError("cannot save the session into a prepared response")
            await storage.save_session(request, response, session)

    return oauth_session_middleware


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


def _check_redis_url(url: object) -> None:
    if not isinstance(url, str) or url.split("://", 1)[0] not in ("redis", "rediss", "unix"):
        raise ConfigurationError("redis_url must look like 'redis://host:6379/0'")


def _redis_storage(url: str, *, max_age: int, secure: bool, name: str) -> RedisStorage:
    """``redis_url=``: aiohttp-session's RedisStorage with TTL = the absolute lifetime."""
    try:
        from ._sessions.redis import redis_storage
    except ImportError as exc:  # the optional dependency is missing
        raise ConfigurationError(
            "redis_url needs the redis client: pip install 'aiohttp-oauth2-login[redis]'"
        ) from exc
    return redis_storage(url, max_age=max_age, secure=secure, cookie_name=name)


Secret = str | bytes | Sequence[str | bytes]


def _secret(secret_key: Secret | None, *, secure: bool) -> Secret:
    """The key(s) for cookies: the session cookie and the login-transaction cookies."""
    if secret_key is not None:
        parse_keys(secret_key)  # validated now, before the app is touched
        return secret_key
    if secure:
        raise ConfigurationError(
            "secret_key is required with an https public_url; generate one with "
            "'python -m aiohttp_oauth2_login keygen'"
        )
    warnings.warn(
        "aiohttp_oauth2_login: no secret_key given, using a random key: sessions and pending "
        "logins end when the process restarts, and with several instances a login must "
        "finish where it started. Never run like this in production.",
        RuntimeWarning,
        stacklevel=3,
    )
    return generate_key()


def _choose_storage(
    app: web.Application,
    storage: aiohttp_session.AbstractStorage | None,
    secret: Secret,
    *,
    secure: bool,
    cookie_name: str,
    max_age: int,
) -> tuple[aiohttp_session.AbstractStorage, bool]:
    """(the session storage, whether an existing aiohttp-session middleware is reused)."""
    existing = _existing_session_storage(app)
    if existing is not None:
        if storage is not None:
            raise ConfigurationError(
                "the app already has aiohttp-session's middleware and its storage is used: "
                "do not pass storage= or redis_url="
            )
        return existing, True
    if type(storage) is RedisStorage:  # aiohttp-session's own: add logout-everywhere & friends
        from ._sessions.redis import RedisSessionStorage

        return RedisSessionStorage.from_storage(storage), False
    if storage is not None:
        return storage, False
    return CookieStorage(secret, cookie_name=cookie_name, secure=secure, max_age=max_age), False


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
) -> OAuthLogin:
    """Add OAuth2 / OpenID Connect login to ``app``; see the README for every option."""
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
    )
    if redis_url is not None and storage is not None:
        raise ConfigurationError("pass either redis_url= or storage=, not both")
    if storage is not None and not isinstance(storage, aiohttp_session.AbstractStorage):
        raise ConfigurationError("storage must be an aiohttp_session.AbstractStorage")
    if redis_url is not None:
        _check_redis_url(redis_url)
    if not COOKIE_NAME_PATTERN.fullmatch(str(cookie_name)):
        raise ConfigurationError(f"cookie_name {cookie_name!r} is not a valid cookie name")
    secret = _secret(secret_key, secure=secure)
    if redis_url is not None:
        storage = _redis_storage(redis_url, max_age=lifetime, secure=secure, name=cookie_name)
    storage, reuse = _choose_storage(
        app, storage, secret, secure=secure, cookie_name=cookie_name, max_age=lifetime
    )
    # 2. store, 3. wire
    login = OAuthLogin(
        config=config,
        providers=checked,
        storage=storage,
        client_session=client_session,
        owns_redis=redis_url is not None,
        tx_cookies=TransactionCookies(parse_keys(secret), base_name=cookie_name, secure=secure),
    )
    add_routes(login)
    login.login_app[LOGIN_APP_KEY] = login
    app[APP_KEY] = login
    if not reuse:
        app.middlewares.append(_session_middleware(storage))
    app.add_subapp(config.prefix, login.login_app)
    app.cleanup_ctx.append(login._client_session_ctx)
    app.on_startup.append(login._bind)
    app.on_startup.append(login._log_redirect_uris)
    return login
