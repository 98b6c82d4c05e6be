"""``TokenSet``: the tokens of one provider for one session, parsed strictly (RFC 6749 §5.1)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._clock import now as wall_clock
from .errors import TokenValidationError

__all__ = ["TokenSet"]

_MAX_EXPIRES_IN = 366 * 24 * 3600
_MAX_TOKEN_LEN = 16 * 1024


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    # RFC 6749 Appendix A: tokens are printable ASCII (they go into HTTP headers)
    if (
        not isinstance(value, str)
        or not value
        or len(value) > _MAX_TOKEN_LEN
        or not (value.isascii() and value.isprintable())
    ):
        raise TokenValidationError(f"The provider's token response has an invalid {key!r}.")
    return value


def _expires_at(data: Mapping[str, Any], key: str, now: float) -> int | None:
    """An absolute expiry from a relative ``expires_in``; bad values ignored, big ones clamped."""
    value = data.get(key)
    if isinstance(value, str) and value.isdigit() and len(value) < 12:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return int(now + max(0, min(int(value), _MAX_EXPIRES_IN)))


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenSet:
    """Tokens from a token endpoint answer; secrets are kept out of ``repr``."""

    access_token: str = field(repr=False)
    token_type: str = "Bearer"  # noqa: S105 - a token type, not a secret
    expires_at: int | None = None
    refresh_token: str | None = field(default=None, repr=False)
    refresh_expires_at: int | None = None
    scope: str | None = None
    id_token: str | None = field(default=None, repr=False)
    issued_at: int | None = None

    @classmethod
    def from_response(cls, data: Any, *, now: float | None = None) -> TokenSet:
        """Validate a successful token response: a JSON object, string token, ``bearer`` type."""
        if not isinstance(data, dict):
            raise TokenValidationError("The provider's token response is not a JSON object.")
        if "error" in data:  # GitHub answers errors with 200
            raise TokenValidationError("The provider refused to issue tokens.")
        now = wall_clock() if now is None else now
        access_token = _opt_str(data, "access_token")
        token_type = data.get("token_type")
        if access_token is None:
            raise TokenValidationError("The provider's token response has no access token.")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise TokenValidationError("The provider issued an unsupported token type.")
        return cls(
            access_token=access_token,
            token_type="Bearer",  # noqa: S106 - a token type, not a secret
            expires_at=_expires_at(data, "expires_in", now),
            refresh_token=_opt_str(data, "refresh_token"),
            refresh_expires_at=_expires_at(data, "refresh_token_expires_in", now),
            scope=data.get("scope") if isinstance(data.get("scope"), str) else None,
            id_token=_opt_str(data, "id_token"),
            issued_at=int(now),
        )

    def expired(self, now: float, margin: float = 0) -> bool:
        return self.expires_at is not None and now + margin >= self.expires_at

    def refresh_margin(self, preferred: float) -> float:
        """How early to refresh: ``preferred`` seconds, but at most half the token's lifetime
        (a 20-second token must not look expired the moment it is issued)."""
        if self.expires_at is None or self.issued_at is None:
            return preferred
        return max(0.0, min(preferred, (self.expires_at - self.issued_at) / 2))

    def to_session(self, *, keep_id_token: bool = False) -> dict[str, Any]:
        """The compact form stored in the session (the ID token only when it is needed later)."""
        data: dict[str, Any] = {"a": self.access_token}
        for short, value in (
            ("x", self.expires_at),
            ("r", self.refresh_token),
            ("rx", self.refresh_expires_at),
            ("s", self.scope),
            ("i", self.id_token if keep_id_token else None),
            ("ia", self.issued_at),
        ):
            if value is not None:
                data[short] = value
        return data

    @classmethod
    def from_session(cls, data: object) -> TokenSet | None:
        """Rebuild from the session; ``None`` for anything of the wrong shape."""
        if not isinstance(data, dict) or not isinstance(data.get("a"), str):
            return None
        strs = {k: data.get(k) for k in ("r", "s", "i")}
        ints = {k: data.get(k) for k in ("x", "rx", "ia")}
        if any(v is not None and not isinstance(v, str) for v in strs.values()):
            return None
        if any(v is not None and type(v) is not int for v in ints.values()):
            return None
        return cls(
            access_token=data["a"],
            expires_at=ints["x"],
            refresh_token=strs["r"],
            refresh_expires_at=ints["rx"],
            scope=strs["s"],
            id_token=strs["i"],
            issued_at=ints["ia"],
        )
