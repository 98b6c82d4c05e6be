"""The ``Provider`` base class and the resolved ``Endpoints`` of a provider.

A provider is configuration plus a few overrides: endpoints, the scopes to ask for, how the client
authenticates, and how a profile becomes a ``User``. Providers never import ``aiohttp.web``: they
take the plugin's ``ClientSession`` and return data.
"""

from __future__ import annotations

import os
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, ClassVar

import aiohttp
from yarl import URL

from .._oauth.endpoints import (
    RESERVED_PARAMS,
    ClientAuth,
    Endpoints,
    check_endpoint,
)
from .._oauth.http import HttpLimits
from .._oauth.protocol import env_prefix, refresh_tokens, revoke_token
from ..errors import ConfigurationError, ReauthenticationRequired
from ..tokens import TokenSet
from ..user import User
from ._profile import user_from_standard_claims

__all__ = ["ClientAuth", "Endpoints", "Provider", "check_endpoint"]

_CLIENT_AUTH = ("client_secret_basic", "client_secret_post", "none")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")


def _is_text(value: object) -> bool:
    """A non-empty ``str`` (configuration comes from users who may not run a type checker)."""
    return isinstance(value, str) and value != ""


class Provider(ABC):
    """An OAuth 2.0 authorization server this app signs users in with."""

    #: whether this provider speaks OpenID Connect (nonce, ID token)
    oidc: ClassVar[bool] = False
    #: whether the ID token is kept in the session (only RP-initiated logout needs it)
    keeps_id_token: bool = False
    #: default name and title of a preset
    default_name: ClassVar[str] = ""
    default_title: ClassVar[str] = ""
    default_scopes: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | None = None,
        name: str | None = None,
        title: str | None = None,
        scopes: Sequence[str] | None = None,
        client_auth: ClientAuth = "client_secret_basic",
        api_base_url: str | None = None,
        authorize_params: Mapping[str, str] | None = None,
    ) -> None:
        name = name if name is not None else self.default_name
        if not _is_text(name) or not _NAME.fullmatch(name):
            raise ConfigurationError(
                f"provider name {name!r} must be 1-32 characters of a-z, 0-9, '-' or '_'"
            )
        if not _is_text(client_id):
            raise ConfigurationError(f"provider {name!r}: client_id must be a non-empty string")
        if client_secret is not None and not _is_text(client_secret):
            raise ConfigurationError(f"provider {name!r}: client_secret must be a non-empty string")
        if client_auth not in _CLIENT_AUTH:
            raise ConfigurationError(
                f"provider {name!r}: client_auth must be one of {_CLIENT_AUTH}"
            )
        if client_auth != "none" and client_secret is None:
            raise ConfigurationError(
                f"provider {name!r}: client_secret is required with client_auth={client_auth!r}"
            )
        if isinstance(scopes, str | bytes):
            raise ConfigurationError(f"provider {name!r}: scopes must be a list, not a string")
        scopes = tuple(scopes) if scopes is not None else self.default_scopes
        if any(not _is_text(s) or " " in s for s in scopes):
            raise ConfigurationError(f"provider {name!r}: scopes must be a list of words")
        extra = dict(authorize_params or {})
        clash = RESERVED_PARAMS.intersection(extra)
        if clash:
            raise ConfigurationError(
                f"provider {name!r}: authorize_params may not set {sorted(clash)}"
            )
        self.name = name
        self.title = title or self.default_title or name.replace("-", " ").title()
        self.client_id = client_id
        self.client_secret = client_secret
        self.client_auth: ClientAuth = client_auth
        self.scopes: tuple[str, ...] = scopes
        self.api_base_url = check_endpoint(api_base_url, f"provider {name!r}: api_base_url")
        self.authorize_params: dict[str, str] = extra

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} client_id={self.client_id!r}>"

    @classmethod
    def from_env(cls, *, name: str | None = None, **kwargs: Any) -> Provider:
        """Build from ``<NAME>_CLIENT_ID`` / ``<NAME>_CLIENT_SECRET`` environment variables."""
        name = name or cls.default_name
        prefix = env_prefix(name)
        client_id = os.environ.get(f"{prefix}_CLIENT_ID")
        if not client_id:
            raise ConfigurationError(f"environment variable {prefix}_CLIENT_ID is not set")
        secret = os.environ.get(f"{prefix}_CLIENT_SECRET") or None
        if secret is None and kwargs.get("client_auth") != "none":
            raise ConfigurationError(f"environment variable {prefix}_CLIENT_SECRET is not set")
        return cls(name=name, client_id=client_id, client_secret=secret, **kwargs)

    @property
    def issuer(self) -> str | None:
        """The issuer identifier, when known from configuration (RFC 9207 / OIDC)."""
        return None

    @property
    def env_prefix(self) -> str:
        """The prefix of the environment variables ``from_env`` reads for this provider
        (``GITHUB`` for ``GITHUB_CLIENT_ID`` / ``GITHUB_CLIENT_SECRET``); log hints name them."""
        return env_prefix(self.name)

    def api_base(self, endpoints: Endpoints) -> str:
        """Base URL of the provider's API for ``get_client``: ``api_base_url``, else the issuer,
        else the origin of the userinfo endpoint."""
        if self.api_base_url is not None:
            return self.api_base_url
        base = endpoints.issuer or endpoints.userinfo_url or endpoints.token_url
        url = URL(base)
        return str(url if endpoints.issuer else url.origin()).rstrip("/") + "/"

    @abstractmethod
    async def endpoints(self, http: aiohttp.ClientSession, limits: HttpLimits) -> Endpoints:
        """The resolved endpoints (may fetch discovery metadata, lazily and once)."""

    def token_request_headers(self) -> dict[str, str]:
        """Extra headers for the token endpoint (GitHub wants ``Accept: application/json``)."""
        return {}

    def extra_authorize_params(self) -> dict[str, str]:
        """Extra authorization-request parameters (``prompt``, ``hd``, ...)."""
        return dict(self.authorize_params)

    @abstractmethod
    async def complete_login(
        self,
        http: aiohttp.ClientSession,
        limits: HttpLimits,
        endpoints: Endpoints,
        token: TokenSet,
        *,
        nonce: str | None,
    ) -> User:
        """Validate what the token endpoint returned and build the ``User`` (after the exchange)."""

    async def refresh(
        self,
        http: aiohttp.ClientSession,
        limits: HttpLimits,
        endpoints: Endpoints,
        token: TokenSet,
        user: User,
    ) -> TokenSet:
        """New tokens from ``token.refresh_token`` (RFC 6749 §6); OIDC also checks the ID token."""
        if token.refresh_token is None:
            raise ReauthenticationRequired()
        fresh = await refresh_tokens(http, self, endpoints, limits, token.refresh_token)
        if fresh.id_token is None and token.id_token is not None:
            fresh = replace(fresh, id_token=token.id_token)  # still the hint for RP logout
        return fresh

    async def revoke(
        self, http: aiohttp.ClientSession, limits: HttpLimits, endpoints: Endpoints, token: TokenSet
    ) -> bool:
        """Revoke the grant at the provider: the refresh token, else the access token (RFC 7009)."""
        if token.refresh_token is not None:
            value, hint = token.refresh_token, "refresh_token"
        else:
            value, hint = token.access_token, "access_token"
        return await revoke_token(http, self, endpoints, limits, value, hint)

    def sign_api_url(self, url: URL, token: TokenSet) -> URL:
        """Per-call additions to an API URL (Facebook's ``appsecret_proof``); none by default."""
        return url

    def user_from_profile(self, profile: Mapping[str, Any]) -> User:
        """Map a profile (userinfo claims or an API object) to a ``User``; override for quirks."""
        return user_from_standard_claims(self.name, profile)
