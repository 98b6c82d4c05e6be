"""``CookieStorage``: the default session storage, AES-256-GCM encrypted, with key rotation.

The first key encrypts, every key decrypts; a cookie readable only by an older key is marked
changed on load, so the response re-encrypts it with the current key. Cookie values are
unpadded base64url (no quoting needed), bound to the cookie name by the AEAD associated data.
A cookie that does not decrypt or parse is an anonymous session, never an error (G9).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, cast

from aiohttp import web
from aiohttp_session import AbstractStorage, Session, SessionData

from ..errors import ConfigurationError
from ..log import logger
from ..tokens import TokenSet
from ..user import User
from .cookies import chunked, chunked_value, plugin_cookies, session_cookie
from .crypto import Sealer
from .deletion import SecureDeleteMixin

__all__ = ["CHUNK_VALUE", "MAX_COOKIE_BYTES", "CookieStorage", "generate_key", "parse_keys"]

MAX_COOKIE_BYTES = 4096  # browsers silently drop a bigger Set-Cookie (G9)
CHUNK_VALUE = 3800  # value bytes per cookie: name and attributes fit in the rest of 4096
MAX_CHUNKS = 2  # aiohttp reads request headers of at most 8190 bytes: Cookie included
CACHE_SIZE = 4096  # cookie values whose login fields are remembered (see _fastpath)
_VERSION = b"\x01"
_INFO = b"aiohttp-oauth2-login session cookie v1"
COOKIE_NAME_PATTERN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")  # an RFC 6265 token


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


class CookieStorage(SecureDeleteMixin, AbstractStorage):
    """Encrypted cookie sessions; ``secure`` adds ``Secure`` and the ``__Host-`` name prefix."""

    def __init__(
        self,
        secret_key: str | bytes | Sequence[str | bytes],
        *,
        cookie_name: str = "aiohttp_oauth2",
        secure: bool = False,
        max_age: int | None = None,
        max_chunks: int = MAX_CHUNKS,
    ) -> None:
        if not COOKIE_NAME_PATTERN.fullmatch(cookie_name):
            raise ConfigurationError(f"cookie_name {cookie_name!r} is not a valid cookie name")
        params = session_cookie(cookie_name, secure=secure)
        cookie_name = params["cookie_name"]
        super().__init__(max_age=max_age, **params)
        if not 1 <= max_chunks <= 8:
            raise ConfigurationError("max_chunks must be between 1 and 8")
        self.max_chunks = max_chunks
        self._sealer = Sealer(parse_keys(secret_key), _INFO, prefix=_VERSION)
        self._aad = cookie_name.encode()
        self._scope: str | None = None
        #: the names of this storage's cookies: the name and its numbered chunks
        self.names = chunked(cookie_name)
        #: value tail -> (value, (user, login time, last activity) or None, tokens); see peek
        self.peek_cache: OrderedDict[
            str, tuple[str, tuple[User, int, int] | None, Mapping[str, TokenSet]]
        ] = OrderedDict()

    def bind(self, scope: str) -> None:
        """Bind cookies to one ``setup_oauth`` (its login path goes into the AEAD associated
        data): a cookie written by another setup of the app tree does not open here."""
        if self._scope is not None and self._scope != scope:
            raise ConfigurationError(
                "one CookieStorage serves two setup_oauth calls; give each its own storage "
                "and cookie_name"
            )
        self._scope = scope
        self._aad = self.cookie_name.encode() + b"\x00" + scope.encode()
        self.peek_cache.clear()

    def encrypt(self, data: dict[str, Any]) -> str:
        """The cookie value for ``data`` under the current key."""
        return self._sealer.seal(json.dumps(data, separators=(",", ":")).encode(), self._aad)

    def decrypt(self, value: str) -> tuple[dict[str, Any], int] | None:
        """(data, index of the key that opened it), or ``None`` for anything unreadable."""
        if len(value) > CHUNK_VALUE * self.max_chunks:
            return None
        opened = self._sealer.open(value, self._aad)
        if opened is None:
            return None
        try:
            data = json.loads(opened[0])
        except (ValueError, RecursionError):
            return None
        return (data, opened[1]) if isinstance(data, dict) else None

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

    def load_cookie(self, request: web.Request) -> str | None:
        """The whole cookie value, reassembled from numbered chunks (``name.1``, ...) if split,
        read strictly from the raw header (``_cookies``): a duplicated name is anonymous."""
        names = self.names  # its needle is the cookie name
        return chunked_value(plugin_cookies(request, names), names.needle, self.max_chunks)

    def encode(self, session: Session) -> list[str] | None:
        """The cookie values (one, or the numbered chunks) of ``session``; ``None`` when even
        ``max_chunks`` cookies of under 4096 bytes cannot hold it."""
        value = self.encrypt(dict(self._get_session_data(session)))
        if len(value) <= CHUNK_VALUE:
            return [value]
        count = -(-len(value) // CHUNK_VALUE)
        if count > self.max_chunks:
            return None
        parts = [value[i : i + CHUNK_VALUE] for i in range(0, len(value), CHUNK_VALUE)]
        parts[0] = f"{count}~{parts[0]}"
        return parts

    def fits(self, session: Session) -> bool:
        """Whether ``session`` can be stored in cookies a browser accepts."""
        return session.empty or self.encode(session) is not None

    def set_cookie_size(self, session: Session) -> int:
        """Bytes of the largest ``Set-Cookie`` header this session produces (0 when empty);
        more than ``MAX_COOKIE_BYTES`` when it does not fit at all."""
        if session.empty:
            return 0
        values = self.encode(session)
        if values is None:
            return MAX_COOKIE_BYTES + 1
        response = web.Response()
        self._write(response, values, session.max_age, stale=())
        return max(len(m.OutputString()) for m in response.cookies.values())

    def _write(
        self,
        response: web.StreamResponse,
        values: list[str],
        max_age: int | None,
        stale: tuple[str, ...],
    ) -> None:
        names = [self.cookie_name] + [f"{self.cookie_name}.{i}" for i in range(1, len(values))]
        for name, value in zip(names, values, strict=True):
            params = self.cookie_params.copy()
            if max_age is not None:
                params["max_age"] = max_age
            response.set_cookie(name, value, **params)
        for name in stale:
            if name not in names:
                self.delete_cookie(response, name)

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: Session
    ) -> None:
        stale = tuple(
            name for name in plugin_cookies(request, self.names) if name != self.cookie_name
        )
        values = None if session.empty else self.encode(session)
        if values is None:
            if not session.empty:
                # never send cookies the browser would drop (login loop); forget the session
                logger.error(
                    "session larger than %d cookies: dropped; use server-side storage",
                    self.max_chunks,
                )
            self.save_cookie(response, "")
            for name in stale:
                self.delete_cookie(response, name)
            return
        self._write(response, values, session.max_age, stale)

    def __repr__(self) -> str:
        return f"<CookieStorage {self.cookie_name!r} keys={self._sealer.key_count}>"
