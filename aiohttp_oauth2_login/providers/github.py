"""GitHub (OAuth apps and GitHub Apps), and GitHub Enterprise Server through ``base_url``.

Docs: "Authorizing OAuth apps", "Generating a user access token for a GitHub App",
"Refreshing user access tokens", REST "Get the authenticated user", "List email addresses for
the authenticated user", "Delete an app authorization", PKCE changelog of 2025-07-14.

Footguns handled here:
- the token endpoint answers errors with HTTP 200 and an ``error`` member (refused by TokenSet);
- it answers form-encoded unless asked for JSON (``Accept: application/json``);
- ``/user`` ``email`` is the *public* email, unverified: the verified primary email comes from
  ``/user/emails`` (needs the ``user:email`` scope) and is used only when GitHub marks it verified;
- the stable identity is the numeric ``id``; ``login`` (the username) can be renamed and reused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from .._oauth.http import HttpLimits, fetch_json
from .._oauth.protocol import basic_auth
from ..errors import ConfigurationError, LoginRefused, ProviderError, TokenValidationError
from ..log import logger
from ..tokens import TokenSet
from ..user import User
from ._profile import fetch_profile, stable_id
from .base import Endpoints
from .oauth2 import OAuth2Provider

__all__ = ["GitHub"]

BASE_URL = "https://github.com"
API_BASE_URL = "https://api.github.com"
AUTHORIZE_PATH = "/login/oauth/authorize"
TOKEN_PATH = "/login/oauth/access_token"  # noqa: S105 - a URL path
API_VERSION = "2022-11-28"
_SLUG = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,99})")
_API_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _names(values: Sequence[str], what: str, *, parts: int) -> tuple[str, ...]:
    """Org names (``acme``) or team paths (``acme/team-slug``), lower-cased and checked."""
    if isinstance(values, str | bytes):
        raise ConfigurationError(f"{what} must be a list, not a string")
    names = []
    items: Sequence[object] = values  # from user configuration: checked, not trusted
    for value in items:
        pieces = value.split("/") if isinstance(value, str) else []
        if len(pieces) != parts or not all(_SLUG.fullmatch(p) for p in pieces):
            form = "'org'" if parts == 1 else "'org/team-slug'"
            raise ConfigurationError(f"{what} entries look like {form}: {value!r}")
        names.append(str(value).lower())
    return tuple(names)


class GitHub(OAuth2Provider):
    """Sign in with GitHub; ``allowed_orgs`` / ``allowed_teams`` need the ``read:org`` scope."""

    default_name = "github"
    default_title = "GitHub"
    default_scopes = ("read:user", "user:email")

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str | None = None,
        name: str | None = None,
        base_url: str = BASE_URL,
        api_base_url: str | None = None,
        authorize_url: str | None = None,
        token_url: str | None = None,
        userinfo_url: str | None = None,
        revocation_url: str | None = None,
        title: str | None = None,
        scopes: Sequence[str] | None = None,
        authorize_params: Mapping[str, str] | None = None,
        allowed_orgs: Sequence[str] = (),
        allowed_teams: Sequence[str] = (),
    ) -> None:
        base = base_url.rstrip("/")
        # GitHub Enterprise Server serves its REST API under /api/v3 of the same host
        api = (api_base_url or (API_BASE_URL if base == BASE_URL else f"{base}/api/v3")).rstrip("/")
        if allowed_orgs or allowed_teams:
            scopes = tuple(scopes if scopes is not None else self.default_scopes)
            if "read:org" not in scopes:
                scopes = (*scopes, "read:org")
        super().__init__(
            client_id=client_id,
            client_secret=client_secret,
            name=name,
            authorize_url=authorize_url or base + AUTHORIZE_PATH,
            token_url=token_url or base + TOKEN_PATH,
            userinfo_url=userinfo_url or api + "/user",
            revocation_url=revocation_url or f"{api}/applications/{client_id}/grant",
            api_base_url=api + "/",
            title=title,
            scopes=scopes,
            client_auth="client_secret_post",
            authorize_params=authorize_params,
        )
        self.api_url = api
        self.allowed_orgs = _names(allowed_orgs, "allowed_orgs", parts=1)
        self.allowed_teams = _names(allowed_teams, "allowed_teams", parts=2)

    def token_request_headers(self) -> dict[str, str]:
        return {"Accept": "application/json"}

    async def fetch_user_profile(
        self, http: aiohttp.ClientSession, limits: HttpLimits, endpoints: Endpoints, token: TokenSet
    ) -> dict[str, Any]:
        assert endpoints.userinfo_url is not None  # noqa: S101
        profile = await fetch_profile(
            http, limits, endpoints.userinfo_url, token, headers=_API_HEADERS
        )
        profile["email"], profile["email_verified"] = await self._verified_email(
            http, limits, token
        )
        return profile

    async def _verified_email(
        self, http: aiohttp.ClientSession, limits: HttpLimits, token: TokenSet
    ) -> tuple[str | None, bool]:
        """The primary verified address from ``/user/emails``; (None, False) without one."""
        answer = await fetch_json(
            http,
            "GET",
            f"{self.api_url}/user/emails",
            limits,
            headers={"Authorization": f"Bearer {token.access_token}", **_API_HEADERS},
            what="GitHub emails request",
            source="userinfo",
        )
        if answer.status in (403, 404):  # scope not granted: no verified email, not an error
            return None, False
        if answer.status != 200 or not isinstance(answer.body, list):
            logger.warning("GitHub /user/emails answered HTTP %d", answer.status)
            raise ProviderError().explain("userinfo_status")
        for entry in answer.body:
            if (
                isinstance(entry, dict)
                and entry.get("primary") is True
                and entry.get("verified") is True
                and isinstance(entry.get("email"), str)
            ):
                return entry["email"], True
        return None, False

    def user_from_profile(self, profile: Mapping[str, Any]) -> User:
        user_id = stable_id(profile.get("id"))
        if user_id is None or not isinstance(profile.get("id"), int):
            raise TokenValidationError("GitHub's profile has no numeric user id.").explain(
                "userinfo_invalid"
            )
        login = _text(profile.get("login"))
        return User(
            provider=self.name,
            id=user_id,
            name=_text(profile.get("name")) or login,
            email=_text(profile.get("email")),
            email_verified=profile.get("email_verified") is True,
            username=login,
            avatar_url=_text(profile.get("avatar_url")),
            raw=profile,
        )

    async def revoke(
        self, http: aiohttp.ClientSession, limits: HttpLimits, endpoints: Endpoints, token: TokenSet
    ) -> bool:
        """``DELETE /applications/{client_id}/grant``: GitHub's own API, not RFC 7009."""
        if endpoints.revocation_url is None or self.client_secret is None:
            return False
        answer = await fetch_json(
            http,
            "DELETE",
            endpoints.revocation_url,
            limits,
            headers={**_API_HEADERS, **basic_auth(self.client_id, self.client_secret)},
            json_body={"access_token": token.access_token},
            what="GitHub grant deletion",
            parse=False,
            source="revocation",
        )
        return answer.status == 204

    async def complete_login(
        self,
        http: aiohttp.ClientSession,
        limits: HttpLimits,
        endpoints: Endpoints,
        token: TokenSet,
        *,
        nonce: str | None,
    ) -> User:
        user = await super().complete_login(http, limits, endpoints, token, nonce=nonce)
        if self.allowed_orgs or self.allowed_teams:
            if not await self._member(http, limits, token, user):
                raise LoginRefused(
                    "Your GitHub account is not a member of an organization or team allowed here."
                ).explain("org_membership")
        return user

    async def _member(
        self, http: aiohttp.ClientSession, limits: HttpLimits, token: TokenSet, user: User
    ) -> bool:
        """Active membership in one allowed org or team (REST: memberships endpoints)."""
        headers = {"Authorization": f"Bearer {token.access_token}", **_API_HEADERS}
        paths = [f"/user/memberships/orgs/{org}" for org in self.allowed_orgs]
        paths += [
            f"/orgs/{team.split('/')[0]}/teams/{team.split('/')[1]}/memberships/{user.username}"
            for team in self.allowed_teams
        ]
        for path in paths:
            answer = await fetch_json(
                http,
                "GET",
                self.api_url + path,
                limits,
                headers=headers,
                what="GitHub membership request",
                source="userinfo",
            )
            body = answer.body
            if answer.status == 200 and isinstance(body, dict) and body.get("state") == "active":
                return True
        return False
