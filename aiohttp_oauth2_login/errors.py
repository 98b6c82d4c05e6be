"""The exception tree of aiohttp-oauth2-login.

Every error carries an RFC 6749-style ``error`` code, the HTTP ``status`` the login views answer
with, and a ``description`` that is safe to show to a user (it never contains upstream bodies,
tokens or unescaped input)::

    OAuthLoginError
    ├── ConfigurationError (also ValueError)   misuse at setup time
    ├── LoginFlowError                          the sign-in attempt failed
    │   ├── InvalidRequest            400       malformed callback / login request
    │   │   ├── InvalidState          400       unknown, expired, replayed or foreign state
    │   │   └── IssuerMismatch        400       RFC 9207 ``iss`` missing or different
    │   ├── AccessDenied              403       the user cancelled at the provider
    │   ├── LoginRefused              403       ``on_login`` or the login rules refused
    │   ├── CrossSiteRequest          403       logout POST from another origin
    │   ├── UnknownProvider           404       no provider of that name
    │   ├── TokenValidationError      401       token response, ID token or userinfo rejected
    │   │   └── InvalidIDToken        401
    │   ├── ProviderError             502       the provider answered with something unusable
    │   │   ├── SessionTooLarge       502       the token set does not fit in cookie storage
    │   │   └── SignInMisconfigured   502       the provider refused this site's client settings
    │   └── ProviderTimeout           504       the provider did not answer in time
    ├── SessionStoreUnavailable       503       Redis (the session store) is unreachable
    └── ReauthenticationRequired      401       the stored tokens can no longer be used

Each failed sign-in also carries a stable ``reason`` code from ``REASONS``: what went wrong in
machine-readable form (logged, and sent as ``"reason"`` in JSON answers), with a short hint for
the visitor and, for the log, what the operator should check (docs/troubleshooting.md).
"""

from __future__ import annotations

from typing import TypeVar

from ._reasons import REASONS, Reason

__all__ = [
    "REASONS",
    "AccessDenied",
    "ConfigurationError",
    "CrossSiteRequest",
    "InvalidIDToken",
    "InvalidRequest",
    "InvalidState",
    "IssuerMismatch",
    "LoginFlowError",
    "LoginRefused",
    "OAuthLoginError",
    "ProviderError",
    "ProviderTimeout",
    "Reason",
    "ReauthenticationRequired",
    "SessionStoreUnavailable",
    "SessionTooLarge",
    "SignInMisconfigured",
    "TokenValidationError",
    "UnknownProvider",
]


class OAuthLoginError(Exception):
    """Root of every error this package raises on purpose."""

    error: str = "server_error"
    status: int = 500
    description: str = "Sign-in failed."
    #: the page title (English; the pages translate it): what happened, in a few words
    title: str = "Sign-in failed"
    #: a stable machine-readable cause (``"tx_missing"``, ``"client_secret"``, ...), logged and
    #: sent in JSON answers; ``None`` when ``error`` says it all
    reason: str | None = None
    #: one short sentence for the visitor on what to do or check (English; translated by the
    #: pages); ``None`` for none
    hint: str | None = None
    #: whether starting the sign-in again can help: a "Try again" link is shown only then
    retryable: bool = True
    #: the provider's own ``error_description`` of a failed callback, sanitised (one line, no
    #: control characters, at most a few hundred characters): shown escaped on the HTML error
    #: page as the provider's words, never in JSON, never logged; ``None`` for every other error
    provider_description: str | None = None
    #: whether the operator's check of ``reason`` was already logged where the failure was
    #: found (with the provider's own words), so the callback's line does not repeat it
    logged: bool = False
    #: whether the callback's own parameters alone caused the failure (its ``error=`` code, which
    #: any visitor can forge): logged at INFO whatever ``REASONS`` says, so a forged callback never
    #: raises a "misconfigured" WARNING
    visitor_input: bool = False

    def __init__(
        self,
        description: str | None = None,
        *,
        error: str | None = None,
        reason: str | None = None,
        hint: str | None = None,
    ) -> None:
        if description is not None:
            self.description = description
        if error is not None:
            self.error = error
        if hint is not None:
            self.hint = hint
        if reason is not None:
            self.explain(reason)
        super().__init__(self.description)

    def explain(self: _E, reason: str) -> _E:
        """Set the stable ``reason`` code and, unless a hint of its own was given, the visitor's
        hint of ``REASONS[reason]``; returns ``self`` (``raise ProviderError().explain(...)``)."""
        previous = REASONS.get(self.reason) if self.reason is not None else None
        if self.hint is None or (previous is not None and self.hint == previous.hint):
            known = REASONS.get(reason)
            self.hint = known.hint if known is not None else None
        self.reason = reason
        return self


_E = TypeVar("_E", bound=OAuthLoginError)


class ConfigurationError(OAuthLoginError, ValueError):
    """The plugin was configured or used in a way that cannot work (raised at setup)."""

    error = "invalid_configuration"


class LoginFlowError(OAuthLoginError):
    """A sign-in attempt failed; rendered as an error page with ``status``."""


class InvalidRequest(LoginFlowError):
    title = "Sign-in failed"
    error = "invalid_request"
    status = 400
    description = "The sign-in request was malformed."


class InvalidState(InvalidRequest):
    error = "invalid_state"
    description = "This sign-in link is invalid, expired or was already used. Please start again."


class IssuerMismatch(InvalidRequest):
    error = "invalid_issuer"
    description = "The sign-in response did not come from the expected provider."


class AccessDenied(LoginFlowError):
    title = "Sign-in cancelled"
    error = "access_denied"
    status = 403
    description = "Sign-in was cancelled."


class LoginRefused(LoginFlowError):
    title = "Sign-in refused"
    retryable = False
    error = "access_denied"
    status = 403
    description = "This account is not allowed to sign in here."


class TokenValidationError(LoginFlowError):
    title = "Sign-in could not be verified"
    error = "invalid_grant"
    status = 401
    description = "The provider's answer could not be verified."


class InvalidIDToken(TokenValidationError):
    error = "invalid_token"
    description = "The provider's identity token could not be verified."


class ProviderError(LoginFlowError):
    title = "Sign-in provider error"
    error = "temporarily_unavailable"
    status = 502
    description = "The sign-in provider answered with something unusable."


class SessionTooLarge(ProviderError):
    error = "server_error"
    retryable = False
    description = (
        "The provider's tokens are too large for cookie sessions; the site must use "
        "server-side session storage (for example aiohttp_session's RedisStorage)."
    )


class SignInMisconfigured(ProviderError):
    """The provider refused this site's own client settings (``invalid_client``,
    ``unauthorized_client``, ``redirect_uri_mismatch``, GitHub's
    ``incorrect_client_credentials``): retrying cannot help until the operator fixes them."""

    error = "server_error"
    title = "This site's sign-in is misconfigured"
    description = (
        "The sign-in provider refused this site's settings. The site's operators have been told; "
        "trying again will not help until they fix it."
    )
    retryable = False


class ProviderTimeout(LoginFlowError):
    title = "Sign-in provider not responding"
    error = "temporarily_unavailable"
    status = 504
    description = "The sign-in provider did not answer in time."


class SessionStoreUnavailable(OAuthLoginError):
    """The server-side session store (Redis) cannot be reached; answered with a 503 page."""

    title = "Sessions unavailable"
    error = "temporarily_unavailable"
    status = 503
    description = "Sessions are temporarily unavailable. Please try again in a moment."


class ReauthenticationRequired(OAuthLoginError):
    """The session's tokens expired or were revoked and cannot be refreshed."""

    title = "Please sign in again"
    error = "login_required"
    status = 401
    description = "Please sign in again."


class CrossSiteRequest(LoginFlowError):
    """A state-changing request that did not come from this site (CSRF defence)."""

    title = "Sign-out refused"
    retryable = False
    error = "invalid_request"
    status = 403
    description = "This request did not come from this site and was refused."


class UnknownProvider(LoginFlowError):
    title = "Not found"
    retryable = False
    error = "invalid_request"
    status = 404
    description = "There is no such sign-in provider."
