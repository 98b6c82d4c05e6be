"""Google: OpenID Connect with Google's quirks.

Docs: "OpenID Connect" (developers.google.com/identity/openid-connect/openid-connect), "Using
OAuth 2.0 for Web Server Applications" (offline access, revocation), the discovery document.

Footguns handled here:
- Google's ID tokens carry ``iss`` as ``https://accounts.google.com`` *or* ``accounts.google.com``;
  both are accepted, for Google only;
- a refresh token is issued only with ``access_type=offline`` and, for a returning user, only with
  ``prompt=consent``: ``offline=True`` sends both;
- ``hd`` in the authorization request is only a UI hint that anyone can strip: with
  ``hosted_domain=`` the ``hd`` claim of the *ID token* is enforced;
- ``email`` counts as verified only when ``email_verified`` is true.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ConfigurationError, LoginRefused
from ..log import logger, safe
from .base import Endpoints
from .oidc import OIDCProvider

__all__ = ["Google"]

ISSUER = "https://accounts.google.com"
ALTERNATE_ISSUER = "accounts.google.com"  # what Google also writes into ID tokens
API_BASE_URL = "https://www.googleapis.com/"


class Google(OIDCProvider):
    """Sign in with Google; ``hosted_domain`` restricts sign-in to one Workspace domain."""

    default_name = "google"
    default_title = "Google"

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | None = None,
        name: str | None = None,
        issuer: str = ISSUER,
        offline: bool = False,
        hosted_domain: str | None = None,
        title: str | None = None,
        scopes: Sequence[str] | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        userinfo_url: str | None = None,
        revocation_url: str | None = None,
        jwks_uri: str | None = None,
        api_base_url: str | None = API_BASE_URL,
        authorize_params: Mapping[str, str] | None = None,
    ) -> None:
        params = dict(authorize_params or {})
        if offline:
            params.update(access_type="offline", prompt="consent")
        if hosted_domain is not None:
            if not hosted_domain or "@" in hosted_domain or "/" in hosted_domain:
                raise ConfigurationError(f"hosted_domain must be a domain name: {hosted_domain!r}")
            params["hd"] = hosted_domain
        super().__init__(
            issuer=issuer,
            client_id=client_id,
            client_secret=client_secret,
            name=name,
            authorize_url=authorize_url,
            token_url=token_url,
            userinfo_url=userinfo_url,
            revocation_url=revocation_url,
            jwks_uri=jwks_uri,
            api_base_url=api_base_url,
            title=title,
            scopes=scopes,
            authorize_params=params,
        )
        self.offline = offline
        self.hosted_domain = hosted_domain.lower() if hosted_domain else None

    def accepted_issuers(self, endpoints: Endpoints) -> tuple[str, ...]:
        issuers = super().accepted_issuers(endpoints)
        return (*issuers, ALTERNATE_ISSUER) if endpoints.issuer == ISSUER else issuers

    def check_id_token_claims(self, claims: Mapping[str, Any]) -> None:
        """Enforce ``hd`` from the ID token itself (the request parameter is only a hint)."""
        if self.hosted_domain is None:
            return
        hd = claims.get("hd")
        if not isinstance(hd, str) or hd.lower() != self.hosted_domain:
            logger.info("Google sign-in refused: hd %s is not %s", safe(hd), self.hosted_domain)
            raise LoginRefused(f"Only accounts of {self.hosted_domain} may sign in here.").explain(
                "hosted_domain"
            )
