"""Logout: a confirmation page, the CSRF-checked POST, revocation, RP-initiated logout.

Local logout always completes: revocation is best effort, concurrent and bounded in time
(G6; RFC 7009). With ``OIDCProvider(rp_initiated_logout=True)`` the browser is then sent to the
provider's ``end_session_endpoint`` and comes back to ``/auth/logout/done``. Chromium and Safari
apply CSP ``form-action`` to the redirects of a form submission, so the confirmation page then
allows exactly that endpoint's origin besides ``'self'`` (G15; CSP Level 3 §6.4.1).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from typing import TYPE_CHECKING

import aiohttp_session
from aiohttp import web
from yarl import URL

from .._pages import SECURITY_HEADERS, content_security_policy, csp_origin, error_page
from .._sessions.access import clear_login, load_auth
from .._sessions.schema import LOGOUT, NAMESPACE, AuthState
from .._urls import external_path, external_url, origin_problem, safe_next
from ..errors import CrossSiteRequest, OAuthLoginError
from ..log import logger
from ..providers.base import Provider
from ..tokens import TokenSet
from .pages import logout_page

if TYPE_CHECKING:
    from .._plugin import OAuthLogin

__all__ = ["REVOCATION_TIMEOUT", "LogoutViews"]

REVOCATION_TIMEOUT = 3.0  # seconds; logout never waits longer for providers
DISCOVERY_WAIT = 3.0  # seconds the confirmation page waits for discovery, then 'self' only


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={**SECURITY_HEADERS, "Location": location})


class LogoutViews:
    """GET/POST /auth/logout and GET /auth/logout/done."""

    def __init__(self, login: OAuthLogin) -> None:
        self.login = login
        self.config = login.config

    async def confirm(self, request: web.Request) -> web.StreamResponse:
        """GET /auth/logout: who is signed in, a confirmation form and a "Stay signed in" link
        back to ``next``; changes nothing."""
        next_ = safe_next(request.query.get("next"), self.config.default_next)
        state = await load_auth(request, self.config)
        headers = dict(SECURITY_HEADERS)
        origin = await self._end_session_origin(request)
        if origin is not None:  # the form's POST answers 303 to the provider's end_session
            headers["Content-Security-Policy"] = content_security_policy(form_action=(origin,))
        return await logout_page(request, self.login, user=state.user, next_=next_, headers=headers)

    async def _end_session_origin(self, request: web.Request) -> str | None:
        """The origin of the end-session endpoint that the form's POST will redirect to;
        ``None`` (``'self'`` only) when there is none, when discovery fails or is slow, or when
        the origin cannot be written safely as a source."""
        state = await load_auth(request, self.config)
        found = await self._end_session(state, wait=DISCOVERY_WAIT)
        if found is None:
            return None
        provider, _, url = found
        origin = csp_origin(url)
        if origin is None:
            logger.warning(
                "the end_session_endpoint of %s cannot be allowed in CSP form-action; "
                "browsers will block RP-initiated logout",
                provider.name,
            )
        return origin

    async def _end_session(
        self, state: AuthState, *, wait: float | None = None
    ) -> tuple[Provider, TokenSet, str] | None:
        """Whether signing ``state`` out goes on to the provider (RP-initiated logout): its
        provider, tokens and ``end_session_endpoint``. One rule for the page and the POST."""
        if state.user is None:
            return None
        provider = self.login.providers.get(state.user.provider)
        token = state.tokens.get(state.user.provider)
        if provider is None or token is None or token.id_token is None:
            return None
        if not provider.keeps_id_token:  # rp_initiated_logout is off
            return None
        try:
            endpoints = await asyncio.wait_for(
                provider.endpoints(self.login.http, self.config.limits), wait
            )
        except (OAuthLoginError, asyncio.TimeoutError) as exc:
            logger.warning("discovery for %s failed: %s", provider.name, type(exc).__name__)
            return None
        if endpoints.end_session_url is None:
            return None
        return provider, token, endpoints.end_session_url

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """POST /auth/logout: same-origin check, local logout, best-effort revocation, 303."""
        problem = origin_problem(self.config.public_url, request)
        if problem is not None:
            # INFO: any other site can make its visitors' browsers send this (G15)
            logger.info("sign-out refused (403): %s", problem)
            return await error_page(request, CrossSiteRequest())
        try:
            form_next = (await request.post()).get("next")
        except (ValueError, LookupError):  # a bogus body or charset: no next, still a logout
            form_next = None
        next_ = safe_next(form_next, self.config.default_next)
        state = await clear_login(request, self.config)
        revocations = [
            self._revoke(self.login.providers[name], token)
            for name, token in state.tokens.items()
            if name in self.login.providers
        ]
        await asyncio.gather(*revocations)
        if state.user is None:
            return _redirect(external_path(self.config.public_url, next_))
        logger.info("user signed out from %s", state.user.provider)
        found = await self._end_session(state)
        if found is not None:
            return _redirect(await self._end_session_url(request, *found, next_))
        return _redirect(external_path(self.config.public_url, next_))

    async def _revoke(self, provider: Provider, token: TokenSet) -> None:
        """Best effort, bounded: local logout never waits long or fails because of this."""
        http, limits = self.login.http, self.config.limits

        async def revoke() -> bool:
            endpoints = await provider.endpoints(http, limits)
            return await provider.revoke(http, limits, endpoints, token)

        try:
            if not await asyncio.wait_for(revoke(), REVOCATION_TIMEOUT):
                logger.info("%s did not confirm the token revocation", provider.name)
        except (OAuthLoginError, asyncio.TimeoutError) as exc:
            logger.warning("token revocation at %s failed: %s", provider.name, type(exc).__name__)

    async def _end_session_url(
        self, request: web.Request, provider: Provider, token: TokenSet, url: str, next_: str
    ) -> str:
        """OIDC RP-Initiated Logout: the provider's end-session URL, with a state to return."""
        assert token.id_token is not None  # noqa: S101 - checked by _end_session
        state = secrets.token_urlsafe(32)
        session = await aiohttp_session.get_session(request)  # cleared above; holds only this
        session[NAMESPACE] = {LOGOUT: {"s": state, "x": next_}}
        done = external_url(self.config.public_url, request, self._route_path("logout_done"))
        params = {
            "id_token_hint": token.id_token,
            "post_logout_redirect_uri": str(done),
            "state": state,
            "client_id": provider.client_id,
        }
        return str(URL(url).update_query(params))

    def _route_path(self, name: str) -> str:
        return self.login.login_app.router[name].url_for().path

    async def done(self, request: web.Request) -> web.StreamResponse:
        """GET /auth/logout/done: back from the provider; ``next`` only with the right state."""
        session = await aiohttp_session.get_session(request)
        raw = session.get(NAMESPACE)
        pending = raw.get(LOGOUT) if isinstance(raw, dict) else None
        next_ = self.config.default_next
        given = request.query.get("state", "")
        stored = pending.get("s") if isinstance(pending, dict) else None
        if isinstance(pending, dict) and isinstance(stored, str) and stored.isascii():
            if hmac.compare_digest(pending["s"].encode(), given.encode("utf-8", "replace")):
                next_ = safe_next(pending.get("x"), self.config.default_next)
            session.invalidate()
        return _redirect(external_path(self.config.public_url, next_))
