"""``OAuthLogin``: the handle of one ``setup_oauth`` — configuration, providers, the session
backend, the login sub-app, its URLs and the one ``ClientSession`` of the plugin.

It imports no views: the login sub-app's routes are added by ``_login.add_routes``, which points
down to this module (``keys`` and ``_login`` import it, never the other way round).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Final

import aiohttp
import aiohttp_session
from aiohttp import web
from yarl import URL

from ._guard import ProxyGuard, announce
from ._oauth.refresh import RefreshCoordinator
from ._sessions.backend import SessionBackend
from ._sessions.transactions import TransactionCookies
from ._urls import external_path, external_url
from ._version import __version__
from .config import OAuthConfig
from .errors import UnknownProvider
from .providers.base import Provider

__all__ = ["APP_KEY", "LOGIN_APP_KEY", "OAuthLogin"]


class OAuthLogin:
    """The handle ``setup_oauth`` returns: configuration, providers, the login sub-app, URLs.

    For the app's own pages: ``login_url()`` (the chooser) or ``login_url("github",
    next="/cart")`` (one provider's button), ``logout_url()`` (GET: the confirmation page; a
    POST form with a ``next`` field signs out), ``providers`` (name → ``Provider``, with
    ``title``, in configuration order) and ``redirect_uri(name)``. Every URL is a path as
    browsers see it (``public_url``'s path prefix included). ``await login_context(request)``
    gathers all of it, translated, with the signed-in user (docs/pages.md).
    """

    def __init__(
        self,
        *,
        config: OAuthConfig,
        providers: Sequence[Provider],
        backend: SessionBackend,
        client_session: aiohttp.ClientSession | None,
        tx_cookies: TransactionCookies,
    ) -> None:
        self.config = config
        self.providers: dict[str, Provider] = {p.name: p for p in providers}
        self.backend = backend
        self.login_app = web.Application()
        self.tx_cookies = tx_cookies
        self.refresher = RefreshCoordinator()
        #: warns when requests show a proxy or host name that public_url does not describe
        self.guard = ProxyGuard(config.public_url)
        self._injected = client_session
        self._http: aiohttp.ClientSession | None = client_session

    @property
    def storage(self) -> aiohttp_session.AbstractStorage:
        """The session storage (``storage=``, ``redis_url=`` or the encrypted cookies)."""
        return self.backend.storage

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
        """Path of the sign-out route: GET shows the confirmation page (who is signed in, "Sign
        out", "Stay signed in"); a same-origin POST with an optional ``next`` field signs out."""
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
            await self.backend.aclose()

    async def _bind(self, app: web.Application) -> None:
        """Bind sessions and login transactions to this setup, now that the app tree is frozen
        and the login path final: two ``setup_oauth`` calls in one tree (``/public``,
        ``/admin``) never accept each other's sessions, whatever their keys."""
        scope = self.login_url()
        self.config.scope.path = scope
        self.tx_cookies.bind(scope)
        self.backend.bind(scope)

    async def _log_redirect_uris(self, app: web.Application) -> None:
        """The redirect URIs to register, visible even when logging is not configured."""
        lines = []
        for name in self.providers:
            path = self._route_path("callback", provider=name)
            if self.config.public_url is not None:
                lines.append(f"redirect URI to register for {name}: {self.redirect_uri(name)}")
            else:
                lines.append(
                    f"redirect URI for {name}: <origin of the request>{path} "
                    "(set public_url in production)"
                )
        announce(lines)


#: The ``OAuthLogin`` handle, on the app ``setup_oauth`` was called on (found via config_dict).
APP_KEY: Final = web.AppKey[OAuthLogin]("aiohttp_oauth2_login")
#: The same handle on the login sub-application itself.
LOGIN_APP_KEY: Final = web.AppKey[OAuthLogin]("aiohttp_oauth2_login.login_app")
