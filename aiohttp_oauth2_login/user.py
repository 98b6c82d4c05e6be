"""``User``: the validated identity of a signed-in visitor."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["User"]

_RAW_BUDGET = 1024  # bytes of profile kept in the session (cookie size matters)
_RAW_VALUE_MAX = 256


def _trim_raw(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Small scalar profile fields only, within a byte budget; big blobs stay at the provider."""
    kept: dict[str, Any] = {}
    size = 2
    for key, value in raw.items():
        if len(key) > 64:
            continue
        if isinstance(value, str) and len(value) > _RAW_VALUE_MAX:
            continue
        if not isinstance(value, (str, int, float, bool)) or value is None:
            continue
        size += len(json.dumps({key: value})) - 1
        if size > _RAW_BUDGET:
            break
        kept[key] = value
    return kept


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    """A signed-in user. Identity is ``(provider, id)``, never the email or the username."""

    provider: str
    id: str
    name: str | None = None
    email: str | None = None
    email_verified: bool = False
    username: str | None = None
    avatar_url: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.raw, MappingProxyType):
            object.__setattr__(self, "raw", MappingProxyType(dict(self.raw)))

    def to_session(self) -> dict[str, Any]:
        """The compact form stored in the session."""
        data: dict[str, Any] = {"p": self.provider, "i": self.id}
        for short, value in (
            ("n", self.name),
            ("e", self.email),
            ("u", self.username),
            ("a", self.avatar_url),
        ):
            if value is not None:
                data[short] = value
        if self.email_verified:
            data["ev"] = True
        raw = _trim_raw(self.raw)
        if raw:
            data["r"] = raw
        return data

    @classmethod
    def from_session(cls, data: object) -> User | None:
        """Rebuild a user from the session; ``None`` for anything of the wrong shape."""
        if not isinstance(data, dict):
            return None
        provider, id_ = data.get("p"), data.get("i")
        if not isinstance(provider, str) or not isinstance(id_, str) or not provider or not id_:
            return None
        opt = {k: data.get(k) for k in ("n", "e", "u", "a")}
        if any(v is not None and not isinstance(v, str) for v in opt.values()):
            return None
        raw = data.get("r", {})
        return cls(
            provider=provider,
            id=id_,
            name=opt["n"],
            email=opt["e"],
            email_verified=data.get("ev") is True,
            username=opt["u"],
            avatar_url=opt["a"],
            raw=raw if isinstance(raw, dict) else {},
        )
