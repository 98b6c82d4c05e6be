"""The AEAD both cookie kinds use: AES-256-GCM under an HKDF-derived key, unpadded base64url."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["Sealer"]

_NONCE = 12


def b64decode(value: str) -> bytes | None:
    """Unpadded base64url, or ``None`` when it is not."""
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


class Sealer:
    """Seals and opens small values; the first key seals, every key opens (rotation).

    ``info`` separates purposes: the same ``secret_key`` gives unrelated keys per purpose. The
    associated data (the cookie name) binds a value to where it was written.
    """

    def __init__(self, keys: Sequence[bytes], info: bytes, prefix: bytes = b"") -> None:
        self._ciphers = [
            AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(k))
            for k in keys
        ]
        self._prefix = prefix  # a version byte, checked on open

    @property
    def key_count(self) -> int:
        return len(self._ciphers)

    def seal(self, plain: bytes, aad: bytes) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._prefix + nonce + self._ciphers[0].encrypt(nonce, plain, aad)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def open(self, value: str, aad: bytes) -> tuple[bytes, int] | None:
        """(plaintext, index of the key that opened it), or ``None``."""
        sealed = b64decode(value)
        start = len(self._prefix)
        if sealed is None or len(sealed) < start + _NONCE + 16 or sealed[:start] != self._prefix:
            return None
        nonce, body = sealed[start : start + _NONCE], sealed[start + _NONCE :]
        for index, cipher in enumerate(self._ciphers):
            try:
                return cipher.decrypt(nonce, body, aad), index
            except InvalidTag:
                continue
        return None
