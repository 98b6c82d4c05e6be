"""The fake provider's vocabulary: its failure modes, its accounts and the records of what it
hands out (authorization requests and codes, RFC 6749 §4.1; grants with their refresh tokens,
§1.5; access tokens, §1.4), plus the base64url of RFC 7515 §2 that JOSE and PKCE share.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FAILURE_MODES: frozenset[str] = frozenset(
    """
    token_error token_500 token_html token_200_error token_missing_access_token token_wrong_type
    token_timeout token_trickle token_redirect token_huge token_not_object
    id_token_missing id_token_alg_none id_token_hs256_pubkey id_token_wrong_aud
    id_token_multi_aud_no_azp id_token_wrong_azp id_token_wrong_iss id_token_wrong_nonce
    id_token_no_nonce id_token_expired id_token_future_iat id_token_old_iat id_token_no_sub
    id_token_bad_signature id_token_unknown_kid id_token_no_kid id_token_crit
    userinfo_401 userinfo_500 userinfo_html userinfo_wrong_sub userinfo_not_object
    iss_mismatch iss_missing deny implicit_tokens
    discovery_wrong_issuer discovery_500 discovery_html jwks_500
    refresh_error revoke_500 revoke_timeout
    """.split()
)
"""Every name :meth:`FakeProvider.fail` accepts; ``token_*`` modes apply to both grants."""

EVIL_ISSUER = "https://evil.example"
_EMAIL_LOCAL_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True, kw_only=True, slots=True)
class FakeAccount:
    """A user the fake provider can sign in; its claims go into ID tokens and userinfo."""

    sub: str
    name: str | None = None
    email: str | None = None
    email_verified: bool = True
    preferred_username: str | None = None
    picture: str | None = None
    extra_claims: Mapping[str, Any] = field(default_factory=dict)
    #: GitHub personality: organizations (``"acme"``) and teams (``"acme/admins"``) it belongs to
    orgs: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()

    def claims(self) -> dict[str, Any]:
        """Return ``sub``, the standard claims that are set, then ``extra_claims``."""
        claims: dict[str, Any] = {"sub": self.sub}
        if self.name is not None:
            claims["name"] = self.name
        if self.email is not None:
            claims["email"] = self.email
            claims["email_verified"] = self.email_verified
        if self.preferred_username is not None:
            claims["preferred_username"] = self.preferred_username
        if self.picture is not None:
            claims["picture"] = self.picture
        claims.update(self.extra_claims)
        return claims


DEFAULT_ACCOUNTS = (
    FakeAccount(
        sub="alice", name="Alice Example", email="alice@example.com", preferred_username="alice"
    ),
    FakeAccount(sub="bob", name="Bob Example", email="bob@example.com", preferred_username="bob"),
)


def account_for(accounts: dict[str, FakeAccount], sub: str) -> FakeAccount:
    """The known account *sub*, or a new ad-hoc one named after it (added to *accounts*)."""
    if sub not in accounts:
        email = f"{sub}@example.com" if _EMAIL_LOCAL_RE.fullmatch(sub) else None
        accounts[sub] = FakeAccount(sub=sub, name=sub, email=email, preferred_username=sub)
    return accounts[sub]


@dataclass(slots=True)
class AuthRequest:
    """A validated authorization request waiting for the user (or auto-approval)."""

    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str
    offline: bool = False  # Google's access_type=offline: a refresh token only then
    created: float = field(default_factory=time.time)


@dataclass(slots=True)
class Grant:
    """One sign-in's token family: its access tokens and its chain of refresh tokens."""

    sub: str
    scope: str
    auth_time: int
    refresh_token: str = ""
    revoked: bool = False
    refreshable: bool = True  # False: the token response carries no refresh token


@dataclass(slots=True)
class Code:
    """An authorization code and, once redeemed, the grant it produced."""

    request: AuthRequest
    sub: str
    auth_time: int
    expires_at: float
    grant: Grant | None = None
    used: bool = False


@dataclass(slots=True)
class AccessToken:
    grant: Grant
    scope: str
    expires_at: float
    revoked: bool = False


def numeric_id(sub: str, digits: int) -> int:
    """A stable number for *sub*: the sub itself when it is digits, else one derived from it."""
    if sub.isascii() and sub.isdigit() and 0 < len(sub) <= 18:
        return int(sub)
    number = int.from_bytes(hashlib.sha256(sub.encode()).digest()[:8], "big")
    low: int = 10 ** (digits - 1)
    return low + number % (9 * low)


def b64(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(obj: Mapping[str, Any]) -> str:
    """Compact JSON, base64url-encoded: a JWS header or payload."""
    return b64(json.dumps(obj, separators=(",", ":")).encode())
