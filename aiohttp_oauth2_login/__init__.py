"""Secure OAuth2 / OpenID Connect login for aiohttp.

``setup_oauth(app, providers=[...])`` adds login, callback and logout routes; handlers use
``@login_required``, ``get_user`` and ``logout``. See the README for a quickstart.
"""

from __future__ import annotations

from ._context import LoginContext, login_context
from ._pages import PageContext, ProviderButton
from ._sessions.cookie_storage import CookieStorage, generate_key
from ._setup import OAuthLogin, setup_oauth
from ._version import __version__
from .auth import get_user, login_required, logout, require_login
from .client import AuthenticatedClient, get_client
from .errors import (
    AccessDenied,
    ConfigurationError,
    CrossSiteRequest,
    InvalidIDToken,
    InvalidRequest,
    InvalidState,
    IssuerMismatch,
    LoginFlowError,
    LoginRefused,
    OAuthLoginError,
    ProviderError,
    ProviderTimeout,
    ReauthenticationRequired,
    SessionStoreUnavailable,
    SessionTooLarge,
    SignInMisconfigured,
    TokenValidationError,
    UnknownProvider,
)
from .log import RedactingAccessLogger
from .tokens import TokenSet
from .user import User

__all__ = [
    "AccessDenied",
    "AuthenticatedClient",
    "ConfigurationError",
    "CookieStorage",
    "CrossSiteRequest",
    "InvalidIDToken",
    "InvalidRequest",
    "InvalidState",
    "IssuerMismatch",
    "LoginContext",
    "LoginFlowError",
    "LoginRefused",
    "OAuthLogin",
    "OAuthLoginError",
    "PageContext",
    "ProviderButton",
    "ProviderError",
    "ProviderTimeout",
    "ReauthenticationRequired",
    "RedactingAccessLogger",
    "SessionStoreUnavailable",
    "SessionTooLarge",
    "SignInMisconfigured",
    "TokenSet",
    "TokenValidationError",
    "UnknownProvider",
    "User",
    "__version__",
    "generate_key",
    "get_client",
    "get_user",
    "login_context",
    "login_required",
    "logout",
    "require_login",
    "setup_oauth",
]
