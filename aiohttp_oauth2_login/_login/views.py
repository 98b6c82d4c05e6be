"""The login sub-app's handlers: parse the request, call the flow, map results to responses.

Every failure inside the callback becomes a returned error page (never a raised exception) so
that aiohttp-session saves the consumed transaction whatever the outcome (G2).
"""

from __future__ import annotations

import html
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import MultiMapping

from .._oauth.protocol import authorization_url, exchange_code
from .._oauth.transaction import check_transaction, new_transaction
from .._pages import SECURITY_HEADERS, error_response, json_response, page, wants_json
from .._sessions.access import start_login_session
from .._urls import external_path, safe_next
from ..errors import (
    AccessDenied,
    InvalidRequest,
    IssuerMismatch,
    LoginFlowError,
    LoginRefused,
    ProviderError,
    SessionTooLarge,
)
from ..log import logger
from ..providers.base import Endpoints, Provider
from ..tokens import TokenSet
from ..user import User

if TYPE_CHECKING:
    from .._plugin import OAuthLogin

__all__ = ["LoginViews"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_MAX_PARAM = 4096
#: RFC 6749 §4.1.2.1 error codes shown by name; anything else is a generic provider error
_KNOWN_ERRORS = frozenset(
    {
        "invalid_request",
        "unauthorized_client",
        "unsupported_response_type",
        "invalid_scope",
        "server_error",
        "temporarily_unavailable",
    }
)
#: tokens must never arrive on the front channel (code flow only, G1)
_FRONT_CHANNEL_TOKENS = ("access_token", "id_token", "token")
#: characters of a provider's ``error_description`` an error page shows at most
MAX_SHOWN_DESCRIPTION = 300
#: characters of it looked at at all (the URL is at most 8 KiB; this bounds the work further)
_MAX_READ_DESCRIPTION = 4 * MAX_SHOWN_DESCRIPTION


def _one(query: MultiMapping[str], name: str, *, required: bool = False) -> str | None:
    """The single value of a callback parameter: printable ASCII, bounded, not repeated."""
    values = query.getall(name, [])
    if len(values) > 1:
        raise InvalidRequest(f"The sign-in response repeats the parameter {name!r}.")
    if not values:
        if required:
            raise InvalidRequest(f"The sign-in response lacks the parameter {name!r}.")
        return None
    value = values[0]
    if len(value) > _MAX_PARAM or not value.isascii() or not value.isprintable():
        raise InvalidRequest(f"The sign-in response has a malformed {name!r}.")
    return value


def _description(query: MultiMapping[str]) -> str | None:
    """The provider's ``error_description``, made fit to show: never a reason to refuse.

    It is display-only text (RFC 6749 §4.1.2.1) that real providers fill with CR/LF (Microsoft
    Entra ID), non-ASCII or long text, so it is sanitised instead of checked. Repeated, none is
    shown (which one would be the provider's?) and the answer still follows ``error``.
    """
    values = query.getall("error_description", [])
    return _sanitise_description(values[0]) if len(values) == 1 else None


def _sanitise_description(text: str) -> str | None:
    """``text`` as one line of plain text: every control, format (bidi overrides, zero-width),
    separator or unassigned character becomes a space, each run of white space one space, and at
    most ``MAX_SHOWN_DESCRIPTION`` characters are kept (then an ellipsis). ``None`` when nothing
    is left. Not escaped: the page escapes it where it renders it (``_pages.error_response``).
    """
    head = text[:_MAX_READ_DESCRIPTION]
    shown = " ".join("".join(ch if ch.isprintable() else " " for ch in head).split())
    if not shown:
        return None
    if len(shown) > MAX_SHOWN_DESCRIPTION or len(text) > len(head):
        shown = shown[:MAX_SHOWN_DESCRIPTION].rstrip() + "\u2026"
    return shown


def _provider_error(error: str, description: str | None) -> LoginFlowError:
    """Map ``error=...`` of the callback (RFC 6749 §4.1.2.1): the status follows ``error`` alone;
    the sanitised ``description`` only rides along to be shown, escaped, on the HTML page."""
    exc: LoginFlowError
    if error == "access_denied":
        exc = AccessDenied()
    elif error in ("server_error", "temporarily_unavailable"):
        exc = ProviderError(f"The sign-in provider reported a temporary problem ({error}).")
    else:
        shown = error if error in _KNOWN_ERRORS else "error"
        text = f"The sign-in provider refused the request ({shown})."
        exc = InvalidRequest(text, error=shown if shown != "error" else "invalid_request")
    exc.provider_description = description
    return exc


class LoginViews:
    """Handlers bound to one ``OAuthLogin`` handle."""

    def __init__(self, login: OAuthLogin) -> None:
        self.login = login
        self.config = login.config

    def _retry(self, provider: str | None = None) -> str:
        return self.login.login_url(provider)

    async def chooser(self, request: web.Request) -> web.StreamResponse:
        """GET /auth/login: the provider list (HTML, or JSON for API clients)."""
        next_ = safe_next(request.query.get("next"), self.config.default_next)
        links = [
            (p.name, p.title, self.login.login_url(p.name, next=next_))
            for p in self.login.providers.values()
        ]
        if wants_json(request):
            return json_response(
                {"providers": [{"name": n, "title": t, "login_url": u} for n, t, u in links]}
            )
        body = "<p>Choose how to sign in.</p>" + "".join(
            f'<a class="btn" href="{html.escape(url)}">Sign in with {html.escape(title)}</a>'
            for _, title, url in links
        )
        return page("Sign in", body)

    async def start(self, request: web.Request) -> web.StreamResponse:
        """GET /auth/login/{provider}: a new transaction and a 302 to the provider."""
        try:
            provider = self.login.provider(request.match_info["provider"])
            endpoints = await provider.endpoints(self.login.http, self.config.limits)
        except LoginFlowError as exc:
            return error_response(request, exc)
        nexts = request.query.getall("next", [])
        next_ = safe_next(nexts[0] if len(nexts) == 1 else None, self.config.default_next)
        tx = new_transaction(provider=provider.name, next_url=next_, oidc=provider.oidc)
        url = authorization_url(
            provider,
            endpoints,
            redirect_uri=self.login.redirect_uri(provider.name, request),
            tx=tx,
        )
        response = web.Response(status=302, headers={**SECURITY_HEADERS, "Location": url})
        self.login.tx_cookies.add(request, response, tx, self.login.cookie_path())
        return response

    async def callback(self, request: web.Request) -> web.StreamResponse:
        """GET /auth/callback/{provider}; no answer of it may leak its URL (code, state)."""
        consumed: list[str] = []
        try:
            response = await self._callback(request, consumed)
        except web.HTTPException as exc:  # raised by on_login: the transaction is consumed too
            self._finish(exc, consumed)
            raise
        self._finish(response, consumed)
        return response

    def _finish(self, response: web.StreamResponse, consumed: list[str]) -> None:
        for name in consumed:
            self.login.tx_cookies.delete(response, name, self.login.cookie_path())
        response.headers["Referrer-Policy"] = "no-referrer"

    async def _callback(self, request: web.Request, consumed: list[str]) -> web.StreamResponse:
        """Consume the state first, then complete the login."""
        name = request.match_info["provider"]
        try:
            provider = self.login.provider(name)
            state = _one(request.query, "state", required=True)
            assert state is not None  # noqa: S101 - required=True
        except LoginFlowError as exc:
            return error_response(request, exc)
        found, cookie = self.login.tx_cookies.take(request, state)
        if cookie is not None:
            consumed.append(cookie)  # deleted on whatever answer follows: consumed once
        try:
            tx = check_transaction(found, provider.name)
            next_ = safe_next(tx.next, self.config.default_next)  # checked again at use
            return await self._complete(request, provider, tx.verifier, tx.nonce, next_)
        except LoginFlowError as exc:
            logger.info("sign-in with %s failed: %s", provider.name, exc.error)
            return error_response(request, exc, retry_url=self._retry(provider.name))
        except web.HTTPException:
            raise
        except Exception as exc:  # an answer nothing above anticipated: not a 500
            # type and place only: the message of such an error may quote provider data
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            logger.error(
                "sign-in with %s failed unexpectedly: %s at %s:%d",
                provider.name,
                type(exc).__name__,
                frame.filename.rsplit("/", 1)[-1],
                frame.lineno or 0,
            )
            return error_response(request, ProviderError())

    def _check_iss(self, endpoints: Endpoints, iss: str | None) -> None:
        """RFC 9207: a present ``iss`` must match; a missing one only where it is promised."""
        if endpoints.issuer is None:
            return
        if iss is None:
            if endpoints.iss_parameter_supported:
                raise IssuerMismatch()
            return
        if iss != endpoints.issuer:
            raise IssuerMismatch()

    async def _complete(
        self,
        request: web.Request,
        provider: Provider,
        verifier: str,
        nonce: str | None,
        next_: str,
    ) -> web.StreamResponse:
        query = request.query
        code = _one(query, "code")
        iss = _one(query, "iss")
        error = _one(query, "error")
        description = _description(query)  # display-only: never refuses (G13)
        if any(name in query for name in _FRONT_CHANNEL_TOKENS):
            raise InvalidRequest("The sign-in response carried tokens in the URL; refused.")
        http, limits = self.login.http, self.config.limits
        endpoints = await provider.endpoints(http, limits)
        self._check_iss(endpoints, iss)
        if error is not None:
            raise _provider_error(error, description)
        if code is None:
            raise InvalidRequest("The sign-in response lacks the parameter 'code'.")
        redirect_uri = self.login.redirect_uri(provider.name, request)
        token = await exchange_code(
            http,
            provider,
            endpoints,
            limits,
            code=code,
            redirect_uri=redirect_uri,
            verifier=verifier,
        )
        user = await provider.complete_login(http, limits, endpoints, token, nonce=nonce)
        self._check_email_domain(user)
        refusal = await self._run_on_login(request, user, token)
        if refusal is not None:
            return refusal
        session = await start_login_session(
            request,
            user=user,
            provider=provider.name,
            token=token,
            scope=self.login.config.scope.path,
            keep_id_token=provider.keeps_id_token,
        )
        if not self.login.backend.fits(session):
            session.invalidate()
            raise SessionTooLarge()
        logger.info("user signed in with %s", provider.name)
        headers = {**SECURITY_HEADERS, "Location": external_path(self.config.public_url, next_)}
        return web.Response(status=303, headers=headers)

    def _check_email_domain(self, user: User) -> None:
        """``allowed_email_domains``: only a *verified* address of one of them may sign in."""
        allowed = self.config.allowed_email_domains
        if allowed is None:
            return
        local, at, domain = (user.email or "").rpartition("@")
        if not (user.email_verified and local and at and domain.lower() in allowed):
            raise LoginRefused(
                "Only verified email addresses of " + ", ".join(sorted(allowed)) + " may sign in."
            )

    async def _run_on_login(
        self, request: web.Request, user: User, token: TokenSet
    ) -> web.StreamResponse | None:
        hook = self.config.on_login
        if hook is None:
            return None
        try:
            return await hook(request, user, token)
        except (web.HTTPException, LoginFlowError):
            raise
        except Exception as exc:
            logger.exception("on_login hook failed: login refused")
            raise LoginRefused() from exc
