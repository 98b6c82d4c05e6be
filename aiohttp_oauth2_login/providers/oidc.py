"""``OIDCProvider``: a generic OpenID Connect provider configured by its issuer.

Discovery runs lazily on the plugin's ``ClientSession`` at the first login (never in the
constructor), concurrent first logins share one fetch, and the document's ``issuer`` must equal the
configured one exactly (OIDC Discovery §4.3). Any endpoint given as a keyword overrides discovery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from .._oauth.http import HttpLimits, fetch_json
from .._oauth.idtoken import ASYMMETRIC_ALGORITHMS, JWKSCache, validate_id_token
from .._oauth.singleflight import SingleFlight
from ..errors import (
    ConfigurationError,
    InvalidIDToken,
    ProviderError,
    SignInMisconfigured,
    TokenValidationError,
)
from ..log import logger, safe
from ..tokens import TokenSet
from ..user import User
from ._profile import fetch_profile
from .base import ClientAuth, Endpoints, check_endpoint
from .oauth2 import OAuth2Provider

__all__ = ["OIDCProvider"]

#: claims that only the ID token may assert; userinfo cannot override them
_ID_TOKEN_ONLY = frozenset({"iss", "sub", "aud", "azp", "exp", "iat", "nonce", "auth_time"})


def _discovered_url(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    try:
        return check_endpoint(value, f"discovery {key}")
    except ConfigurationError as exc:
        logger.warning("discovery document has an invalid %s", key)
        raise ProviderError().explain("discovery_invalid") from exc


class OIDCProvider(OAuth2Provider):
    """OpenID Connect: nonce, a validated ID token, and userinfo whose ``sub`` must match."""

    oidc = True
    default_scopes = ("openid", "email", "profile")

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_secret: str | None = None,
        name: str | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        userinfo_url: str | None = None,
        revocation_url: str | None = None,
        jwks_uri: str | None = None,
        end_session_url: str | None = None,
        api_base_url: str | None = None,
        title: str | None = None,
        scopes: Sequence[str] | None = None,
        client_auth: ClientAuth = "client_secret_basic",
        authorize_params: Mapping[str, str] | None = None,
        id_token_algorithms: Sequence[str] | None = None,
        iss_parameter_supported: bool | None = None,
        fetch_userinfo: bool = True,
        rp_initiated_logout: bool = False,
    ) -> None:
        check_endpoint(issuer, "OIDCProvider issuer", required=True)
        scopes = tuple(scopes) if scopes is not None else self.default_scopes
        if "openid" not in scopes:
            scopes = ("openid", *scopes)
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            name=name,
            authorize_url=authorize_url,
            token_url=token_url,
            userinfo_url=userinfo_url,
            revocation_url=revocation_url,
            api_base_url=api_base_url,
            issuer=issuer,
            iss_parameter_supported=bool(iss_parameter_supported),
            title=title,
            scopes=scopes,
            client_auth=client_auth,
            authorize_params=authorize_params,
        )
        where = f"provider {self.name!r}"
        self.jwks_uri = check_endpoint(jwks_uri, f"{where}: jwks_uri")
        self.end_session_url = check_endpoint(end_session_url, f"{where}: end_session_url")
        if id_token_algorithms is not None:
            bad = set(id_token_algorithms) - ASYMMETRIC_ALGORITHMS
            if bad or not id_token_algorithms:
                raise ConfigurationError(
                    f"{where}: id_token_algorithms must be asymmetric JWS algorithms, got {bad}"
                )
        self.id_token_algorithms = tuple(id_token_algorithms) if id_token_algorithms else None
        self._iss_override = iss_parameter_supported
        self.fetch_userinfo = fetch_userinfo
        #: send the browser to the provider's end_session_endpoint on logout (keeps the ID token)
        self.rp_initiated_logout = rp_initiated_logout
        self.keeps_id_token = rp_initiated_logout
        self._endpoints: Endpoints | None = None
        self._discovery: SingleFlight[Endpoints] = SingleFlight()
        self.jwks = JWKSCache()

    def _check_required(self) -> None:
        """Endpoints come from discovery; nothing else is required."""

    @property
    def discovery_url(self) -> str:
        assert self._issuer is not None  # noqa: S101 - required by the constructor
        return self._issuer.rstrip("/") + "/.well-known/openid-configuration"

    def accepted_issuers(self, endpoints: Endpoints) -> tuple[str, ...]:
        """The ``iss`` values an ID token may carry (one; Google's preset accepts two)."""
        assert endpoints.issuer is not None  # noqa: S101
        return (endpoints.issuer,)

    async def endpoints(self, http: aiohttp.ClientSession, limits: HttpLimits) -> Endpoints:
        if self._endpoints is None:
            self._endpoints = await self._discovery.run(lambda: self._discover(http, limits))
        return self._endpoints

    async def _discover(self, http: aiohttp.ClientSession, limits: HttpLimits) -> Endpoints:
        answer = await fetch_json(
            http, "GET", self.discovery_url, limits, what="OIDC discovery", source="discovery"
        )
        doc = answer.body
        if answer.status != 200 or not isinstance(doc, dict):
            logger.warning("OIDC discovery for %s answered HTTP %d", self.name, answer.status)
            raise ProviderError().explain("discovery_status")
        if doc.get("issuer") != self._issuer:
            logger.error(
                "OIDC discovery for %s: issuer %s differs from the configured %s; set issuer= "
                "to the document's issuer exactly",
                self.name,
                safe(doc.get("issuer")),
                safe(self._issuer),
            )
            exc = SignInMisconfigured().explain("discovery_issuer")
            exc.logged = True
            raise exc
        authorize = self.authorize_url or _discovered_url(doc, "authorization_endpoint")
        token = self.token_url or _discovered_url(doc, "token_endpoint")
        jwks_uri = self.jwks_uri or _discovered_url(doc, "jwks_uri")
        if authorize is None or token is None or jwks_uri is None:
            logger.warning("OIDC discovery for %s lacks a required endpoint", self.name)
            raise ProviderError().explain("discovery_invalid")
        algs = doc.get("id_token_signing_alg_values_supported")
        if self.id_token_algorithms is not None:
            algorithms = self.id_token_algorithms
        elif isinstance(algs, list):
            algorithms = tuple(a for a in algs if a in ASYMMETRIC_ALGORITHMS) or ("RS256",)
        else:
            algorithms = ("RS256",)
        iss_supported = self._iss_override
        if iss_supported is None:
            iss_supported = doc.get("authorization_response_iss_parameter_supported") is True
        return Endpoints(
            authorize_url=authorize,
            token_url=token,
            userinfo_url=self.userinfo_url or _discovered_url(doc, "userinfo_endpoint"),
            revocation_url=self.revocation_url or _discovered_url(doc, "revocation_endpoint"),
            end_session_url=self.end_session_url or _discovered_url(doc, "end_session_endpoint"),
            jwks_uri=jwks_uri,
            issuer=self._issuer,
            iss_parameter_supported=iss_supported,
            id_token_algorithms=algorithms,
        )

    async def validate_id_token(
        self,
        http: aiohttp.ClientSession,
        limits: HttpLimits,
        endpoints: Endpoints,
        id_token: str,
        *,
        nonce: str | None,
    ) -> dict[str, Any]:
        """The verified claims of an ID token from this provider."""
        assert endpoints.jwks_uri is not None  # noqa: S101 - discovery requires it
        return await validate_id_token(
            id_token,
            http=http,
            limits=limits,
            jwks=self.jwks,
            jwks_uri=endpoints.jwks_uri,
            issuer=self.accepted_issuers(endpoints),
            client_id=self.client_id,
            algorithms=endpoints.id_token_algorithms,
            nonce=nonce,
        )

    def check_id_token_claims(self, claims: Mapping[str, Any]) -> None:
        """Provider rules on validated ID-token claims (Google ``hd``); raise to refuse."""

    async def refresh(
        self,
        http: aiohttp.ClientSession,
        limits: HttpLimits,
        endpoints: Endpoints,
        token: TokenSet,
        user: User,
    ) -> TokenSet:
        """Refresh; a new ID token must validate and keep ``iss``/``sub`` (OIDC Core §12.2)."""
        fresh = await super().refresh(http, limits, endpoints, token, user)
        if fresh.id_token is not None:
            claims = await self.validate_id_token(
                http, limits, endpoints, fresh.id_token, nonce=None
            )
            if claims["sub"] != user.id:
                logger.warning("refreshed ID token of %s names another subject", self.name)
                raise InvalidIDToken("The provider's new identity token names another user.")
        return fresh

    async def complete_login(
        self,
        http: aiohttp.ClientSession,
        limits: HttpLimits,
        endpoints: Endpoints,
        token: TokenSet,
        *,
        nonce: str | None,
    ) -> User:
        if token.id_token is None:
            raise InvalidIDToken("The provider did not send an identity token.").explain(
                "id_token_missing"
            )
        if nonce is None:  # every OIDC transaction has one; never skip the check
            raise InvalidIDToken().explain("id_token_nonce")
        claims = await self.validate_id_token(http, limits, endpoints, token.id_token, nonce=nonce)
        self.check_id_token_claims(claims)
        profile = dict(claims)
        if self.fetch_userinfo and endpoints.userinfo_url is not None:
            info = await fetch_profile(http, limits, endpoints.userinfo_url, token)
            if info.get("sub") != claims["sub"]:  # OIDC Core §5.3.2
                logger.warning("userinfo sub differs from the ID token sub: refused")
                raise TokenValidationError(
                    "The provider's profile belongs to another user."
                ).explain("userinfo_sub")
            profile.update((k, v) for k, v in info.items() if k not in _ID_TOKEN_ONLY)
        return self.user_from_profile(profile)
