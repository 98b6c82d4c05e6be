"""``get_client``: call the provider's API as the signed-in user, with tokens kept fresh.

Built on the plugin's one ``ClientSession`` and aiohttp's client middleware: the middleware adds
the bearer token only for the provider's API origin (G22), refreshes it shortly before
it expires and once after a 401, and writes refreshed tokens back to the session.
"""

from __future__ import annotations

import functools
from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import Any

from aiohttp import ClientHandlerType, ClientRequest, ClientResponse, hdrs, web
from yarl import URL

from ._awaitable import MustAwait
from ._clock import now
from ._plugin import OAuthLogin
from ._sessions.access import (
    cached_auth,
    drop_tokens,
    persist_now,
    reread_tokens,
    session_id,
    store_tokens,
    stored_side,
)
from .auth import get_login, load_state, reauthentication, require_writable
from .errors import TokenValidationError
from .log import logger
from .providers.base import Endpoints, Provider
from .tokens import TokenSet
from .user import User

__all__ = ["AuthenticatedClient", "get_client"]

REFRESH_MARGIN = 30  # seconds: refresh this long before the access token expires


@functools.lru_cache(maxsize=64)
def _base(api_base: str) -> tuple[URL, URL]:
    """A provider's API base URL and its origin, parsed once (not on every ``get_client``)."""
    url = URL(api_base)
    return url, url.origin()


@functools.lru_cache(maxsize=512)
def _join(base: URL, target: URL) -> URL:
    """``target`` (a path, maybe with a query) below ``base``; pure, so cached: handlers call
    the same few API paths on every request."""
    path = base.path.rstrip("/") + "/" + target.path.lstrip("/")
    return base.with_path(path, encoded=False).with_query(target.query)


class _RequestContext:
    """What ``client.get(...)`` returns: awaitable, and an async context manager."""

    __slots__ = ("_coro", "_resp")

    def __init__(self, coro: Any) -> None:
        self._coro = coro
        self._resp: ClientResponse | None = None

    def __await__(self) -> Generator[Any, None, ClientResponse]:
        return self._coro.__await__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> ClientResponse:
        self._resp = await self._coro
        return self._resp

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._resp is not None:
            self._resp.release()


class AuthenticatedClient:
    """The provider's API as one signed-in user; valid for the request it was made for."""

    def __init__(
        self,
        request: web.Request,
        login: OAuthLogin,
        provider: Provider,
        endpoints: Endpoints,
        user: User,
        token: TokenSet,
    ) -> None:
        self._request = request
        self._login = login
        self._provider = provider
        self._endpoints = endpoints
        self._user = user
        self._token = token
        self.base_url, self._origin = _base(provider.api_base(endpoints))

    @property
    def provider(self) -> str:
        return self._provider.name

    @property
    def endpoints(self) -> Endpoints:
        """The provider's resolved endpoints (e.g. ``userinfo_url`` from discovery)."""
        return self._endpoints

    @property
    def token(self) -> TokenSet:
        """The current tokens (after any refresh this client made)."""
        return self._token

    def resolve(self, url: str | URL) -> URL:
        """An absolute URL on the API origin; paths are relative to ``base_url``.

        Absolute URLs on any other origin are refused: the token was issued for this API only.
        """
        target = URL(url)
        if target.is_absolute():
            if target.origin() != self._origin:
                raise ValueError(
                    f"refusing to send {self.provider}'s token to {target.origin()}: only "
                    f"{self._origin} may receive it"
                )
            return target
        if target.host is not None or target.scheme:
            raise ValueError(f"not a path or an absolute URL: {url!r}")
        return _join(self.base_url, target)

    def request(self, method: str, url: str | URL, **kwargs: Any) -> _RequestContext:
        """Like ``ClientSession.request``; the bearer token is added and refreshed as needed."""
        if "middlewares" in kwargs:
            raise TypeError("the authenticated client sets its own middlewares")
        return _RequestContext(self._send(method, self.resolve(url), kwargs))

    async def _send(self, method: str, target: URL, kwargs: dict[str, Any]) -> ClientResponse:
        token = self._token
        if token.expired(now(), token.refresh_margin(REFRESH_MARGIN)):
            token = await self.fresh_token()
        target = self._provider.sign_api_url(target, token)
        return await self._login.http.request(
            method, target, middlewares=(self._authorize,), **kwargs
        )

    def get(self, url: str | URL, **kwargs: Any) -> _RequestContext:
        return self.request(hdrs.METH_GET, url, **kwargs)

    def post(self, url: str | URL, **kwargs: Any) -> _RequestContext:
        return self.request(hdrs.METH_POST, url, **kwargs)

    def put(self, url: str | URL, **kwargs: Any) -> _RequestContext:
        return self.request(hdrs.METH_PUT, url, **kwargs)

    def patch(self, url: str | URL, **kwargs: Any) -> _RequestContext:
        return self.request(hdrs.METH_PATCH, url, **kwargs)

    def delete(self, url: str | URL, **kwargs: Any) -> _RequestContext:
        return self.request(hdrs.METH_DELETE, url, **kwargs)

    async def _authorize(self, req: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        """Client middleware (runs for every hop, redirects included)."""
        if req.url.origin() != self._origin:  # a redirect elsewhere: the token stays home
            req.headers.popall(hdrs.AUTHORIZATION, None)
            return await handler(req)
        token = self._token  # made fresh by _send just before
        req.headers[hdrs.AUTHORIZATION] = f"Bearer {token.access_token}"
        resp = await handler(req)
        if resp.status != 401 or token.refresh_token is None:
            return resp
        resp.release()  # the provider may have revoked or expired it early: refresh once
        token = await self.fresh_token(stale=token)
        req.headers[hdrs.AUTHORIZATION] = f"Bearer {token.access_token}"
        return await handler(req)

    async def fresh_token(self, *, stale: TokenSet | None = None) -> TokenSet:
        """A usable token: refreshed when about to expire, or when ``stale`` was refused."""
        token = self._token
        if stale is None and not token.expired(now(), token.refresh_margin(REFRESH_MARGIN)):
            return token
        if stale is not None and token is not stale:
            return token  # already refreshed meanwhile
        if token.refresh_token is None:
            await drop_tokens(self._request, self.provider)
            raise reauthentication(self._request, self._login, (self.provider,))
        login, provider = self._login, self._provider
        spent = token.refresh_token

        async def refresh() -> TokenSet:
            return await provider.refresh(
                login.http, login.config.limits, self._endpoints, token, self._user
            )

        async def job() -> TokenSet:
            shared = await session_id(self._request)
            lock = login.backend.refresh_lock
            if lock is None or shared is None:
                return await refresh()
            side = stored_side(self._request)
            assert side is not None  # noqa: S101 - session_id() said the store is server-side
            keep = provider.keeps_id_token
            # several instances share this session: one refresh, under a Redis lock
            async with lock.hold(shared) as held:
                stored = await reread_tokens(self._request, self.provider)
                if stored is not None and stored.refresh_token != spent:
                    return stored  # another instance refreshed while we waited
                fresh = await refresh()
                # the provider may have rotated the old refresh token away: from here on the
                # result must reach Redis (with Redis down: kept here, written when it is back,
                # the lock held until then), or the next refresh would present a spent token
                login.refresher.keep(spent, fresh)
                await store_tokens(self._request, self.provider, fresh, keep_id_token=keep)
                later = functools.partial(
                    side.replace_tokens,
                    shared,
                    self.provider,
                    spent,
                    fresh.to_session(keep_id_token=keep),
                )
                done = functools.partial(login.refresher.written, spent)
                await held.write(persist_now(self._request), later=later, done=done)
                return fresh

        try:
            fresh = await login.refresher.refresh(token.refresh_token, job)
        except TokenValidationError as exc:  # invalid_grant: revoked, expired or rotated away
            logger.info("token refresh at %s refused: the user must sign in again", self.provider)
            await drop_tokens(self._request, self.provider)
            raise reauthentication(self._request, self._login, (self.provider,)) from exc
        await store_tokens(
            self._request, self.provider, fresh, keep_id_token=provider.keeps_id_token
        )
        self._token = fresh
        return fresh


def get_client(
    request: web.Request, provider: str | None = None
) -> Coroutine[Any, Any, AuthenticatedClient]:
    """A client for the provider's API as the signed-in user (default: the login provider).

    ``client = await get_client(request)`` raises ``ReauthenticationRequired`` when nobody is
    signed in or the tokens are gone; uncaught, it is the login redirect / 401 of
    ``require_login`` (and ``@login_required`` also clears the session). Not awaited, it fails
    loudly like ``get_user``.
    """
    return MustAwait(_get_client(request, provider), "get_client")


async def _get_client(request: web.Request, provider: str | None) -> AuthenticatedClient:
    login = get_login(request)
    require_writable(request, "get_client()")  # refreshed tokens must be saved
    # what @login_required's cheap check already read from this cookie, else the full load
    state = cached_auth(request, login.config, login.backend.storage) or await load_state(
        request, login
    )  # a store outage: the 503 page
    if state.user is None:  # uncaught: the login redirect / 401, like require_login
        raise reauthentication(request, login, None if provider is None else (provider,))
    name = provider or state.user.provider
    token = state.tokens.get(name)
    selected = login.provider(name)
    if token is None:
        raise reauthentication(request, login, (name,))
    endpoints = await selected.endpoints(login.http, login.config.limits)
    return AuthenticatedClient(request, login, selected, endpoints, state.user, token)
