"""The login sub-app's handlers: parse the request, call the flow, map results to responses.

Every failure inside the callback becomes a returned error page (never a raised exception) so
that aiohttp-session saves the consumed transaction whatever the outcome (G2).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web
from multidict import MultiMapping

from .._lograte import warning_level
from .._oauth.protocol import authorization_url, exchange_code
from .._oauth.transaction import check_transaction, new_transaction
from .._pages import SECURITY_HEADERS, error_page
from .._sessions.access import shed_carried, start_login_session
from .._urls import external_path, safe_next
from ..errors import (
    REASONS,
    AccessDenied,
    InvalidRequest,
    IssuerMismatch,
    LoginFlowError,
    LoginRefused,
    OAuthLoginError,
    ProviderError,
    SessionTooLarge,
    SignInMisconfigured,
    UnknownProvider,
)
from ..log import logger, one_line, safe
from ..providers.base import Endpoints, Provider
from ..tokens import TokenSet
from ..user import User
from .pages import chooser_page

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
#: ``error`` codes of the callback that mean this site's client settings are wrong, not the
#: visitor's doing: a "misconfigured" page without "Try again" (reason codes: errors.REASONS)
_CONFIG_ERRORS = {
    "invalid_client": "client_id",
    "unauthorized_client": "unauthorized_client",
    "redirect_uri_mismatch": "redirect_uri",  # GitHub
    "invalid_scope": "scope",
    "unsupported_response_type": "response_type",
    "application_suspended": "client_suspended",  # GitHub
}


def _one(query: MultiMapping[str], name: str, *, required: bool = False) -> str | None:
    """The single value of a callback parameter: printable ASCII, bounded, not repeated."""
    bad = "state_malformed" if name == "state" else "callback_malformed"
    values = query.getall(name, [])
    if len(values) > 1:
        raise InvalidRequest(f"The sign-in response repeats the parameter {name!r}.").explain(bad)
    if not values:
        if required:
            raise InvalidRequest(f"The sign-in response lacks the parameter {name!r}.").explain(
                "state_missing" if name == "state" else bad
            )
        return None
    value = values[0]
    if len(value) > _MAX_PARAM or not value.isascii() or not value.isprintable():
        raise InvalidRequest(f"The sign-in response has a malformed {name!r}.").explain(bad)
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
    is left. Not escaped: the page escapes it where it renders it (``_pages.error_page``).
    """
    return one_line(text, MAX_SHOWN_DESCRIPTION)


def _provider_error(error: str, description: str | None) -> LoginFlowError:
    """Map ``error=...`` of the callback (RFC 6749 §4.1.2.1): the status follows ``error`` alone;
    the sanitised ``description`` only rides along to be shown, escaped, on the HTML page."""
    exc: LoginFlowError
    if error == "access_denied":
        exc = AccessDenied().explain("access_denied")
    elif error in ("server_error", "temporarily_unavailable"):
        exc = ProviderError(f"The sign-in provider reported a temporary problem ({error}).")
        exc.explain("provider_unavailable")
    elif error in _CONFIG_ERRORS:
        exc = SignInMisconfigured().explain(_CONFIG_ERRORS[error])
    else:
        shown = error if error in _KNOWN_ERRORS else "error"
        text = f"The sign-in provider refused the request ({shown})."
        exc = InvalidRequest(text, error=shown if shown != "error" else "invalid_request")
        exc.explain("provider_refused")
    exc.provider_description = description
    exc.visitor_input = True  # a visitor can send any error= to their own callback (INFO)
    return exc


class LoginViews:
    """Handlers bound to one ``OAuthLogin`` handle."""

    def __init__(self, login: OAuthLogin) -> None:
        self.login = login
        self.config = login.config

    def _retry(self, provider: str | None = None, next_: str | None = None) -> str:
        """The "Try again" link: the login of ``provider`` again, with the original ``next``."""
        keep = next_ is not None and next_ != self.config.default_next
        return self.login.login_url(provider, next=next_ if keep else None)

    def _host_differs(self, request: web.Request) -> bool:
        """Whether the request's ``Host`` is not ``public_url``'s (only ever logged and
        explained, never used to build a URL)."""
        public = self.config.public_url
        if public is None:
            return False
        expected = str(public.origin()).partition("://")[2].lower()
        default_port = ":443" if public.scheme == "https" else ":80"
        return request.host.lower().removesuffix(default_port) != expected

    def _log_failure(
        self, request: web.Request, name: str, exc: OAuthLoginError, provider: Provider | None
    ) -> None:
        """One line per failed callback: its reason code, status and (unless the line that found
        the failure said it already) what the operator should check (docs/troubleshooting.md)."""
        reason = exc.reason or "?"
        known = REASONS.get(reason)
        check = ""
        if known is not None and not exc.logged:
            public = self.config.public_url
            context = {"provider": name, "host": safe(request.host, 100)}
            context["public_url"] = str(public) if public is not None else "(not set)"
            if provider is not None:
                context["env"] = provider.env_prefix
                context["issuer"] = safe(provider.issuer or "(none)", 300)
                context["redirect_uri"] = self._logged_redirect_uri(provider, request)
            check = "; check: " + known.check_for(**context)
        level = known.level if known is not None else logging.WARNING
        if exc.visitor_input:  # the callback's own error= code: anyone can send it
            level = logging.INFO
        if level >= logging.WARNING:
            level = warning_level("callback:" + reason)
        logger.log(
            level,
            "sign-in with %s failed: reason=%s status=%d%s",
            name,
            reason,
            exc.status,
            check,
        )

    def _logged_redirect_uri(self, provider: Provider, request: web.Request) -> str:
        """The redirect URI for the log line; ``?`` when the request's ``Host`` is no origin
        (the line must never turn the answer into a 500)."""
        try:
            return safe(self.login.redirect_uri(provider.name, request), 300)
        except (ValueError, OAuthLoginError):
            return "?"

    async def chooser(self, request: web.Request) -> web.StreamResponse:
        """GET /auth/login: the provider list (HTML, or JSON for API clients)."""
        return await chooser_page(request, self.login)

    async def start(self, request: web.Request) -> web.StreamResponse:
        """GET /auth/login/{provider}: a new transaction and a 302 to the provider."""
        try:
            provider = self.login.provider(request.match_info["provider"])
            redirect_uri = self.login.redirect_uri(provider.name, request)  # 400 for a bad Host
            endpoints = await provider.endpoints(self.login.http, self.config.limits)
        except LoginFlowError as exc:
            return await error_page(request, exc)
        nexts = request.query.getall("next", [])
        next_ = safe_next(nexts[0] if len(nexts) == 1 else None, self.config.default_next)
        tx = new_transaction(provider=provider.name, next_url=next_, oidc=provider.oidc)
        url = authorization_url(provider, endpoints, redirect_uri=redirect_uri, tx=tx)
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
            if isinstance(exc, UnknownProvider):
                exc.explain("unknown_provider")
            self._log_failure(request, safe(name, 40), exc, None)
            return await error_page(request, exc)
        found, cookie, why = self.login.tx_cookies.take_explained(request, state)
        if cookie is not None:
            consumed.append(cookie)  # deleted on whatever answer follows: consumed once
        # "Try again" (built on failure only) keeps the original next, checked again at use
        again, again_next = provider.name, None
        if found is not None:
            again = found.provider if found.provider in self.login.providers else provider.name
            again_next = safe_next(found.next, self.config.default_next)
        elif why in ("tx_missing", "tx_unknown") and self._host_differs(request):
            why = "host_mismatch"  # the likelier cause: cookies of one host never reach another
        try:
            tx = check_transaction(found, provider.name, reason=why)
            next_ = safe_next(tx.next, self.config.default_next)  # checked again at use
            return await self._complete(request, provider, tx.verifier, tx.nonce, next_)
        except LoginFlowError as exc:
            self._log_failure(request, provider.name, exc, provider)
            return await error_page(request, exc, retry_url=self._retry(again, again_next))
        except web.HTTPException as exc:  # raised by on_login
            logger.info(
                "sign-in with %s failed: reason=on_login_refused status=%d",
                provider.name,
                exc.status,
            )
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
            unexpected = ProviderError().explain("unexpected")
            self._log_failure(request, provider.name, unexpected, provider)
            return await error_page(request, unexpected)

    def _check_iss(self, endpoints: Endpoints, iss: str | None) -> None:
        """RFC 9207: a present ``iss`` must match; a missing one only where it is promised."""
        if endpoints.issuer is None:
            return
        if iss is None:
            if endpoints.iss_parameter_supported:
                raise IssuerMismatch().explain("iss_missing")
            return
        if iss != endpoints.issuer:
            raise IssuerMismatch().explain("iss_mismatch")

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
            raise InvalidRequest(
                "The sign-in response carried tokens in the URL; refused."
            ).explain("front_channel_tokens")
        http, limits = self.login.http, self.config.limits
        endpoints = await provider.endpoints(http, limits)
        self._check_iss(endpoints, iss)
        if error is not None:
            # the provider's code only: its error_description is never logged (G13)
            logger.info("%s answered the sign-in with error=%s", provider.name, safe(error, 60))
            raise _provider_error(error, description)
        if code is None:
            raise InvalidRequest("The sign-in response lacks the parameter 'code'.").explain(
                "code_missing"
            )
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
            carry=self.config.carry_session_keys,
        )
        if not self.login.backend.fits(session):  # the app's carried data makes way first
            shed_carried(session, self.config.carry_session_keys)
        if not self.login.backend.fits(session):
            session.invalidate()
            raise SessionTooLarge().explain("session_too_large")
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
            ).explain("email_domain")

    async def _run_on_login(
        self, request: web.Request, user: User, token: TokenSet
    ) -> web.StreamResponse | None:
        hook = self.config.on_login
        if hook is None:
            return None
        try:
            refusal = await hook(request, user, token)
        except web.HTTPException:
            raise
        except LoginFlowError as exc:
            if exc.reason is None:
                exc.explain("on_login_refused")
            raise
        except Exception as exc:
            logger.exception("on_login hook failed: login refused")
            raise LoginRefused().explain("on_login_error") from exc
        if refusal is not None:
            logger.info(
                "sign-in with %s failed: reason=on_login_refused status=%d",
                user.provider,
                refusal.status,
            )
        return refusal
