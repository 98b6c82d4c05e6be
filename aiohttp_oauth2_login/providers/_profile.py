"""Profiles: fetching a userinfo-style JSON object and mapping standard claims to a ``User``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from .._oauth.http import HttpLimits, fetch_json
from ..errors import ProviderError, TokenValidationError
from ..log import logger
from ..tokens import TokenSet
from ..user import User

__all__ = ["fetch_profile", "user_from_standard_claims"]

_MAX_FIELD = 2048


def _text(profile: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = profile.get(key)
        if isinstance(value, str) and value and len(value) <= _MAX_FIELD:
            return value
    return None


def stable_id(value: Any) -> str | None:
    """A provider's subject as text: non-empty strings and integers only (never a bool)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and 0 < len(value) <= 255:
        return value
    return None


def user_from_standard_claims(provider: str, profile: Mapping[str, Any]) -> User:
    """OIDC standard claims (with common OAuth2 spellings as fall-backs) to a ``User``."""
    subject = stable_id(profile.get("sub", profile.get("id")))
    if subject is None:
        raise TokenValidationError("The provider's profile has no usable user id.").explain(
            "userinfo_invalid"
        )
    verified = profile.get("email_verified")
    return User(
        provider=provider,
        id=subject,
        name=_text(profile, "name"),
        email=_text(profile, "email"),
        email_verified=verified is True or verified == "true",
        username=_text(profile, "preferred_username", "login", "username"),
        avatar_url=_text(profile, "picture", "avatar_url"),
        raw=profile,
    )


async def fetch_profile(
    http: aiohttp.ClientSession,
    limits: HttpLimits,
    url: str,
    token: TokenSet,
    *,
    headers: Mapping[str, str] | None = None,
    what: str = "userinfo request",
) -> dict[str, Any]:
    """GET a JSON object with the bearer token: 401/403 → ``TokenValidationError``."""
    answer = await fetch_json(
        http,
        "GET",
        url,
        limits,
        headers={"Authorization": f"Bearer {token.access_token}", **(headers or {})},
        what=what,
        source="userinfo",
    )
    if answer.status in (401, 403):
        logger.warning("%s answered HTTP %d", what, answer.status)
        raise TokenValidationError("The provider refused to share your profile.").explain(
            "userinfo_refused"
        )
    if answer.status != 200:
        logger.warning("%s answered HTTP %d", what, answer.status)
        raise ProviderError().explain("userinfo_status")
    if not isinstance(answer.body, dict):
        raise TokenValidationError("The provider's profile is not a JSON object.").explain(
            "userinfo_invalid"
        )
    return answer.body
