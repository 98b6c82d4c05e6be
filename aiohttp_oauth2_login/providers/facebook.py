"""Facebook Login (manually built flow) with the Graph API.

Docs: "Manually Build a Login Flow", "OIDC Code Flow with PKCE for Manually Built Facebook Login
Flows" (PKCE for the web code flow; the page marks it as still in testing), "Securing Graph API
Requests" (``appsecret_proof``), "Graph API changelog" (versions), "Permissions" (DELETE
/me/permissions).

Footguns handled here:
- the Graph API is versioned in every URL: pinned to ``GRAPH_VERSION`` and configurable;
- every Graph call made with a user token carries ``appsecret_proof`` (HMAC-SHA256 of the token
  with the app secret), so a leaked token is useless without the secret — enable "Require App
  Secret" in the app's settings;
- ``email`` is absent when the user has none or declined the permission, and Facebook does not
  say whether it is verified: it never counts as verified (so ``allowed_email_domains`` refuses it);
- there are no refresh tokens: when the (long-lived, ~60 day) token expires, the client raises
  ``ReauthenticationRequired`` and the user signs in again;
- revoking on logout (``DELETE /me/permissions``) de-authorizes the app for the user entirely, so it
  is opt-in (``revoke_on_logout=True``).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from yarl import URL

from .._oauth.http import HttpLimits, fetch_json
from ..errors import TokenValidationError
from ..tokens import TokenSet
from ..user import User
from ._profile import fetch_profile, stable_id
from .base import Endpoints
from .oauth2 import OAuth2Provider

__all__ = ["Facebook"]

GRAPH_VERSION = "v26.0"  # released 2026-07-29
DIALOG_BASE = "https://www.facebook.com"
GRAPH_BASE = "https://graph.facebook.com"
PROFILE_FIELDS = "id,name,email,picture"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class Facebook(OAuth2Provider):
    """Sign in with Facebook."""

    default_name = "facebook"
    default_title = "Facebook"
    default_scopes = ("email", "public_profile")

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | None = None,
        name: str | None = None,
        graph_version: str = GRAPH_VERSION,
        authorize_url: str | None = None,
        token_url: str | None = None,
        userinfo_url: str | None = None,
        api_base_url: str | None = None,
        revocation_url: str | None = None,
        revoke_on_logout: bool = False,
        title: str | None = None,
        scopes: Sequence[str] | None = None,
        authorize_params: Mapping[str, str] | None = None,
    ) -> None:
        graph = api_base_url or f"{GRAPH_BASE}/{graph_version}/"
        graph = graph if graph.endswith("/") else graph + "/"
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            name=name,
            authorize_url=authorize_url or f"{DIALOG_BASE}/{graph_version}/dialog/oauth",
            token_url=token_url or f"{graph}oauth/access_token",
            userinfo_url=userinfo_url or f"{graph}me?fields={PROFILE_FIELDS}",
            revocation_url=revocation_url or f"{graph}me/permissions",
            api_base_url=graph,
            title=title,
            scopes=scopes,
            client_auth="client_secret_post",
            authorize_params=authorize_params,
        )
        self.graph_version = graph_version
        self.revoke_on_logout = revoke_on_logout

    def appsecret_proof(self, access_token: str) -> str:
        """HMAC-SHA256 of the access token keyed with the app secret, hex ("Securing Requests")."""
        secret = (self.client_secret or "").encode()
        return hmac.new(secret, access_token.encode(), hashlib.sha256).hexdigest()

    def sign_api_url(self, url: URL, token: TokenSet) -> URL:
        if self.client_secret is None:
            return url
        return url.update_query(appsecret_proof=self.appsecret_proof(token.access_token))

    async def fetch_user_profile(
        self, http: aiohttp.ClientSession, limits: HttpLimits, endpoints: Endpoints, token: TokenSet
    ) -> dict[str, Any]:
        assert endpoints.userinfo_url is not None  # noqa: S101
        url = self.sign_api_url(URL(endpoints.userinfo_url), token)
        return await fetch_profile(http, limits, str(url), token, what="Graph /me request")

    def user_from_profile(self, profile: Mapping[str, Any]) -> User:
        user_id = stable_id(profile.get("id"))
        if user_id is None:
            raise TokenValidationError("Facebook's profile has no user id.").explain(
                "userinfo_invalid"
            )
        picture = profile.get("picture")
        data = picture.get("data") if isinstance(picture, dict) else None
        avatar = _text(data.get("url")) if isinstance(data, dict) else None
        email = _text(profile.get("email"))
        return User(
            provider=self.name,
            id=user_id,
            name=_text(profile.get("name")),
            email=email,
            email_verified=False,  # Facebook never says whether an address is verified
            username=None,
            avatar_url=avatar,
            raw={k: v for k, v in profile.items() if k != "picture"},
        )

    async def revoke(
        self, http: aiohttp.ClientSession, limits: HttpLimits, endpoints: Endpoints, token: TokenSet
    ) -> bool:
        """``DELETE /me/permissions`` when ``revoke_on_logout`` (it de-authorizes the app)."""
        if not self.revoke_on_logout or endpoints.revocation_url is None:
            return False
        url = self.sign_api_url(URL(endpoints.revocation_url), token)
        answer = await fetch_json(
            http,
            "DELETE",
            str(url),
            limits,
            headers={"Authorization": f"Bearer {token.access_token}"},
            what="Graph permissions deletion",
            source="revocation",
        )
        body = answer.body
        return answer.status == 200 and isinstance(body, dict) and body.get("success") is True
