"""``OAuth2Provider``: a generic OAuth 2.0 provider with explicitly configured endpoints."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from .._oauth.http import HttpLimits
from ..tokens import TokenSet
from ..user import User
from ._profile import fetch_profile
from .base import ClientAuth, Endpoints, Provider, check_endpoint

__all__ = ["OAuth2Provider"]


class OAuth2Provider(Provider):
    """Plain OAuth 2.0: the profile comes from ``userinfo_url`` with the access token.

    ``issuer`` (optional) enables the RFC 9207 ``iss`` check when the provider sends it; set
    ``iss_parameter_supported=True`` when it always does, so a missing ``iss`` is refused.
    """

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | None = None,
        name: str | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        userinfo_url: str | None = None,
        revocation_url: str | None = None,
        api_base_url: str | None = None,
        issuer: str | None = None,
        iss_parameter_supported: bool = False,
        title: str | None = None,
        scopes: Sequence[str] | None = None,
        client_auth: ClientAuth = "client_secret_basic",
        authorize_params: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            name=name,
            title=title,
            scopes=scopes,
            client_auth=client_auth,
            api_base_url=api_base_url,
            authorize_params=authorize_params,
        )
        where = f"provider {self.name!r}"
        self._issuer = issuer
        self.authorize_url = check_endpoint(authorize_url, f"{where}: authorize_url")
        self.token_url = check_endpoint(token_url, f"{where}: token_url")
        self.userinfo_url = check_endpoint(userinfo_url, f"{where}: userinfo_url")
        self.revocation_url = check_endpoint(revocation_url, f"{where}: revocation_url")
        self.iss_parameter_supported = bool(iss_parameter_supported)
        self._check_required()

    def _check_required(self) -> None:
        """Plain OAuth2 has no discovery: the three endpoints must be configured."""
        where = f"provider {self.name!r}"
        check_endpoint(self.authorize_url, f"{where}: authorize_url", required=True)
        check_endpoint(self.token_url, f"{where}: token_url", required=True)
        check_endpoint(self.userinfo_url, f"{where}: userinfo_url", required=True)

    @property
    def issuer(self) -> str | None:
        return self._issuer

    async def endpoints(self, http: aiohttp.ClientSession, limits: HttpLimits) -> Endpoints:
        assert self.authorize_url is not None and self.token_url is not None  # noqa: S101
        return Endpoints(
            authorize_url=self.authorize_url,
            token_url=self.token_url,
            userinfo_url=self.userinfo_url,
            revocation_url=self.revocation_url,
            issuer=self._issuer,
            iss_parameter_supported=self.iss_parameter_supported and self._issuer is not None,
        )

    async def fetch_user_profile(
        self, http: aiohttp.ClientSession, limits: HttpLimits, endpoints: Endpoints, token: TokenSet
    ) -> dict[str, Any]:
        """The user's profile as a JSON object (override for providers with other APIs)."""
        assert endpoints.userinfo_url is not None  # noqa: S101 - checked at construction
        return await fetch_profile(http, limits, endpoints.userinfo_url, token)

    async def complete_login(
        self,
        http: aiohttp.ClientSession,
        limits: HttpLimits,
        endpoints: Endpoints,
        token: TokenSet,
        *,
        nonce: str | None,
    ) -> User:
        profile = await self.fetch_user_profile(http, limits, endpoints, token)
        return self.user_from_profile(profile)
