"""Login transactions: ``state``, the PKCE verifier and the OIDC nonce; created, consumed once.

A transaction lives in an encrypted cookie of the browser that started the login
(``_tx_cookies``), so a ``state`` is bound to that browser. ``state`` carries no meaning: the
provider and ``next`` are looked up, never decoded from it (G2).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from .._clock import now
from ..errors import InvalidState

__all__ = [
    "MAX_LIVE",
    "TRANSACTION_TTL",
    "Transaction",
    "code_challenge",
    "check_transaction",
    "new_transaction",
    "well_formed_state",
]

MAX_LIVE = 5  # live transactions per browser (tabs)
TRANSACTION_TTL = 600  # seconds
_STATE_BYTES = 32  # 256 bits
_STATE_LEN = 43  # len(urlsafe_b64encode(32 bytes)) without padding
_STATE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _random_token() -> str:
    return secrets.token_urlsafe(_STATE_BYTES)


def code_challenge(verifier: str) -> str:
    """The PKCE S256 challenge of ``verifier`` (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass(frozen=True, slots=True, kw_only=True)
class Transaction:
    """One login attempt; the verifier and nonce never leave the server except as PKCE/nonce."""

    state: str
    verifier: str
    nonce: str | None
    provider: str
    next: str
    created: float  # seconds; sub-second so that the oldest of a burst is well defined

    def expired(self, now: float) -> bool:
        return not (self.created - 5 <= now < self.created + TRANSACTION_TTL)

    def to_dict(self) -> dict[str, Any]:
        return {
            "s": self.state,
            "v": self.verifier,
            "n": self.nonce,
            "p": self.provider,
            "x": self.next,
            "c": self.created,
        }

    @classmethod
    def from_dict(cls, data: Any) -> Transaction | None:
        """Parse a stored transaction; anything of the wrong shape is dropped, never trusted."""
        if not isinstance(data, dict):
            return None
        fields = (data.get("s"), data.get("v"), data.get("p"), data.get("x"))
        nonce, created = data.get("n"), data.get("c")
        if not all(isinstance(f, str) and f.isascii() for f in fields):
            return None
        if not isinstance(created, int | float):
            return None
        if nonce is not None and not (isinstance(nonce, str) and nonce.isascii()):
            return None
        state, verifier, provider, next_ = fields
        assert isinstance(state, str) and isinstance(verifier, str)  # noqa: S101 - narrowing
        assert isinstance(provider, str) and isinstance(next_, str)  # noqa: S101 - narrowing
        return cls(
            state=state,
            verifier=verifier,
            nonce=nonce,
            provider=provider,
            next=next_,
            created=float(created),
        )


def new_transaction(*, provider: str, next_url: str, oidc: bool) -> Transaction:
    """A fresh transaction: 256-bit state, 256-bit PKCE verifier, and a nonce for OIDC."""
    return Transaction(
        state=_random_token(),
        verifier=_random_token(),
        nonce=_random_token() if oidc else None,
        provider=provider,
        next=next_url,
        created=round(now(), 3),
    )


def well_formed_state(state: str) -> bool:
    """Whether ``state`` has the shape of ours: 43 base64url characters (256 bits)."""
    return len(state) == _STATE_LEN and _STATE_CHARS.issuperset(state)


def check_transaction(
    tx: Transaction | None, provider: str, *, reason: str | None = None
) -> Transaction:
    """The transaction if it belongs to ``provider``; ``InvalidState`` otherwise, explained by
    ``reason`` (why there is no transaction, from the cookie store) or ``tx_other_provider``."""
    if tx is None:
        raise InvalidState().explain(reason or "tx_unknown")
    if not hmac.compare_digest(tx.provider.encode(), provider.encode()):
        raise InvalidState(
            "This sign-in response belongs to another provider. Please start again."
        ).explain("tx_other_provider")
    return tx
