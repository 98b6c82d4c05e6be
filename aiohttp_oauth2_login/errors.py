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
    │   │   └── SessionTooLarge       502       the token set does not fit in cookie storage
    │   └── ProviderTimeout           504       the provider did not answer in time
    ├── SessionStoreUnavailable       503       Redis (the session store) is unreachable
    └── ReauthenticationRequired      401       the stored tokens can no longer be used
"""

from __future__ import annotations

__all__ = [
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
    "ReauthenticationRequired",
    "SessionStoreUnavailable",
    "SessionTooLarge",
    "TokenValidationError",
    "UnknownProvider",
]


class OAuthLoginError(Exception):
    """Root of every error this package raises on purpose."""

    error: str = "server_error"
    status: int = 500
    description: str = "Sign-in failed."
    #: the provider's own ``error_description`` of a failed callback, sanitised (one line, no
    #: control characters, at most a few hundred characters): shown escaped on the HTML error
    #: page as the provider's words, never in JSON, never logged; ``None`` for every other error
    provider_description: str | None = None

    def __init__(self, description: str | None = None, *, error: str | None = None) -> None:
        if description is not None:
            self.description = description
        if error is not None:
            self.error = error
        super().__init__(self.description)


class ConfigurationError(OAuthLoginError, ValueError):
    """The plugin was configured or used in a way that cannot work (raised at setup)."""

    error = "invalid_configuration"


class LoginFlowError(OAuthLoginError):
    """A sign-in attempt failed; rendered as an error page with ``status``."""


class InvalidRequest(LoginFlowError):
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
    error = "access_denied"
    status = 403
    description = "Sign-in was cancelled."


class LoginRefused(LoginFlowError):
    error = "access_denied"
    status = 403
    description = "This account is not allowed to sign in here."


class TokenValidationError(LoginFlowError):
    error = "invalid_grant"
    status = 401
    description = "The provider's answer could not be verified."


class InvalidIDToken(TokenValidationError):
    error = "invalid_token"
    description = "The provider's identity token could not be verified."


class ProviderError(LoginFlowError):
    error = "temporarily_unavailable"
    status = 502
    description = "The sign-in provider answered with something unusable."


class SessionTooLarge(ProviderError):
    error = "server_error"
    description = (
        "The provider's tokens are too large for cookie sessions; the site must use "
        "server-side session storage (for example aiohttp_session's RedisStorage)."
    )


class ProviderTimeout(LoginFlowError):
    error = "temporarily_unavailable"
    status = 504
    description = "The sign-in provider did not answer in time."


class SessionStoreUnavailable(OAuthLoginError):
    """The server-side session store (Redis) cannot be reached; answered with a 503 page."""

    error = "temporarily_unavailable"
    status = 503
    description = "Sessions are temporarily unavailable. Please try again in a moment."


class ReauthenticationRequired(OAuthLoginError):
    """The session's tokens expired or were revoked and cannot be refreshed."""

    error = "login_required"
    status = 401
    description = "Please sign in again."


class CrossSiteRequest(LoginFlowError):
    """A state-changing request that did not come from this site (CSRF defence)."""

    error = "invalid_request"
    status = 403
    description = "This request did not come from this site and was refused."


class UnknownProvider(LoginFlowError):
    error = "invalid_request"
    status = 404
    description = "There is no such sign-in provider."
