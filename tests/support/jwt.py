"""Tokens built by hand, independently of the package: base64url, JSON segments, PKCE S256 and
the claims of a valid ID token."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from typing import Any

ISSUER = "https://issuer.example"
CLIENT_ID = "client-1"
NONCE = "n-0S6_WzA2Mj"
DROP = object()  # a claim value meaning "leave the claim out"


def b64(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(obj: Any) -> str:
    """A JWT segment: compact JSON, base64url (NaN and infinities pass as Python writes them)."""
    return b64(json.dumps(obj, separators=(",", ":"), allow_nan=True).encode())


def s256(verifier: str) -> str:
    """RFC 7636 §4.2 code challenge."""
    return b64(hashlib.sha256(verifier.encode("ascii")).digest())


def claims(now: int | None = None, **changes: Any) -> dict[str, Any]:
    """A valid ID token's claims for ``ISSUER``/``CLIENT_ID``/``NONCE``, issued ``now`` (default:
    the current time), with ``changes`` (a ``DROP`` value leaves that claim out)."""
    now = int(time.time()) if now is None else now
    base: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": CLIENT_ID,
        "iat": now,
        "exp": now + 300,
        "nonce": NONCE,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not DROP}


#: 43 base64url characters: 32 random bytes (256 bits), unpadded
B64URL_43 = re.compile(r"[A-Za-z0-9_-]{43}")
