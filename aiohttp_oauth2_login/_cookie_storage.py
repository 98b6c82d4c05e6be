"""``CookieStorage``: the default session storage, AES-256-GCM encrypted, with key rotation.

The first key encrypts, every key decrypts; a cookie readable only by an older key is marked
changed on load, so the response re-encrypts it with the current key. Cookie values are
unpadded base64url (no quoting needed), bound to the cookie name by the AEAD associated data.
A cookie that does not decrypt or parse is an anonymous session, never an error (SECURITY.md 23).
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
import secrets
from collections.abc import Sequence
from typing import Any, cast

from aiohttp import web
from aiohttp_session import AbstractStorage, Session, SessionData
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ._secure_cookie import SecureDeleteMixin
from .errors import ConfigurationError
from .log import logger

__all__ = ["MAX_COOKIE_BYTES", "CookieStorage", "generate_key", "parse_keys"]

MAX_COOKIE_BYTES = 4096  # browsers silently drop a bigger Set-Cookie (SECURITY.md 25)
_VERSION = b"\x01"
_NONCE = 12
_MAX_VALUE = 8192  # longer cookie values are not even base64-decoded
_INFO = b"aiohttp-oauth2-login session cookie v1"
_COOKIE_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")  # an RFC 6265 token


def generate_key() -> str:
    """A fresh 32-byte key, url-safe base64 (the format ``Fernet.generate_key()`` prints)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def parse_keys(secret_key: str | bytes | Sequence[str | bytes]) -> list[bytes]:
    """Decode one key or a list (newest first) of 32-byte url-safe base64 keys."""
    hint = "generate one with 'python -m aiohttp_oauth2_login keygen'"
    if isinstance(secret_key, str | bytes):
        keys: list[object] = [secret_key]
    elif isinstance(secret_key, Sequence):
        keys = list(secret_key)
    else:
        raise ConfigurationError(f"secret_key must be a key or a list of keys; {hint}")
    if not keys:
        raise ConfigurationError(f"secret_key must not be an empty list; {hint}")
    decoded: list[bytes] = []
    for index, key in enumerate(keys):
        try:
            if isinstance(key, str):
                key = key.encode("ascii")
            raw = base64.urlsafe_b64decode(key) if isinstance(key, bytes) else b""
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise ConfigurationError(
                f"secret_key[{index}] is not 32 bytes of url-safe base64; {hint}"
            )
        decoded.append(raw)
    return decoded


def _derive(key: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO)
    return AESGCM(hkdf.derive(key))


def _b64decode(value: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        return None


class CookieStorage(SecureDeleteMixin, AbstractStorage):
    """Encrypted cookie sessions; ``secure`` adds ``Secure`` and the ``__Host-`` name prefix."""

    def __init__(
        self,
        secret_key: str | bytes | Sequence[str | bytes],
        *,
        cookie_name: str = "aiohttp_oauth2",
        secure: bool = False,
        max_age: int | None = None,
    ) -> None:
        if not _COOKIE_NAME.fullmatch(cookie_name):
            raise ConfigurationError(f"cookie_name {cookie_name!r} is not a valid cookie name")
        if secure and not cookie_name.startswith("__Host-"):
            cookie_name = "__Host-" + cookie_name
        super().__init__(
            cookie_name=cookie_name,
            max_age=max_age,
            path="/",
            secure=secure,
            httponly=True,
            samesite="Lax",
        )
        self._ciphers = [_derive(k) for k in parse_keys(secret_key)]
        self._aad = cookie_name.encode()

    def encrypt(self, data: dict[str, Any]) -> str:
        """The cookie value for ``data`` under the current key."""
        plain = json.dumps(data, separators=(",", ":")).encode()
        nonce = os.urandom(_NONCE)
        sealed = _VERSION + nonce + self._ciphers[0].encrypt(nonce, plain, self._aad)
        return base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")

    def decrypt(self, value: str) -> tuple[dict[str, Any], int] | None:
        """(data, index of the key that opened it), or ``None`` for anything unreadable."""
        if len(value) > _MAX_VALUE:
            return None
        sealed = _b64decode(value)
        if sealed is None or len(sealed) < 1 + _NONCE + 16 or sealed[:1] != _VERSION:
            return None
        nonce, body = sealed[1 : 1 + _NONCE], sealed[1 + _NONCE :]
        for index, cipher in enumerate(self._ciphers):
            try:
                plain = cipher.decrypt(nonce, body, self._aad)
            except InvalidTag:
                continue
            try:
                data = json.loads(plain)
            except ValueError:
                return None
            return (data, index) if isinstance(data, dict) else None
        return None

    async def load_session(self, request: web.Request) -> Session:
        value = self.load_cookie(request)
        opened = self.decrypt(value) if value else None
        if opened is None:
            if value:
                logger.debug("unreadable session cookie ignored")
            return Session(None, data=None, new=True, max_age=self.max_age)
        data, key_index = opened
        created, mapping = data.get("created"), data.get("session")
        if not isinstance(created, int) or not isinstance(mapping, dict):
            return Session(None, data=None, new=True, max_age=self.max_age)
        session = Session(None, data=cast(SessionData, data), new=False, max_age=self.max_age)
        if key_index > 0:  # written with an older key: re-encrypt with the current one
            session.changed()
        return session

    def set_cookie_size(self, session: Session) -> int:
        """Bytes of the ``Set-Cookie`` header this session would produce."""
        response = web.Response()
        self._set(response, session)
        morsel = response.cookies.get(self.cookie_name)
        return len(morsel.OutputString()) if morsel is not None else 0

    def _set(self, response: web.StreamResponse, session: Session) -> None:
        if session.empty:
            self.save_cookie(response, "", max_age=session.max_age)
        else:
            value = self.encrypt(dict(self._get_session_data(session)))
            self.save_cookie(response, value, max_age=session.max_age)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        self._set(response, session)
        morsel = response.cookies.get(self.cookie_name)
        if morsel is not None and len(morsel.OutputString()) > MAX_COOKIE_BYTES:
            # never send a cookie the browser would drop (login loop); forget the session instead
            logger.error(
                "session cookie of %d bytes exceeds %d: session dropped; use server-side storage",
                len(morsel.OutputString()),
                MAX_COOKIE_BYTES,
            )
            self.save_cookie(response, "")

    def __repr__(self) -> str:
        return f"<CookieStorage {self.cookie_name!r} keys={len(self._ciphers)}>"
