"""Login transactions in cookies of their own: one small encrypted pair of cookies per login.

Two tabs (or two protected pages restored at once) that start a login at the same moment each
get their own cookies, so neither overwrites the other's transaction — with one session cookie
both requests would read it, add their transaction and write it back, and the last answer would
win. Each transaction is named after a hash of its ``state``, lives at most ``TRANSACTION_TTL``
and travels in two ``HttpOnly``, ``SameSite=Lax`` cookies:

- the *data* cookie holds the AES-GCM sealed transaction and is scoped to the login sub-app's
  path, so a long ``next`` costs nothing on the rest of the site (five of them at ``Path=/``
  could push every request of the browser past aiohttp's 8 KiB header limit);
- the *key* cookie holds a random 128-bit key that the data cookie's associated data includes;
  over https it is a ``__Host-`` cookie (``Secure``, ``Path=/``, no ``Domain``), which only this
  host can set. A sibling host may set a ``__Secure-`` cookie with ``Domain=``, so it could plant
  the data cookie of a login it started and approved with its own account, but never the key
  cookie that opens it: no login CSRF (RFC 6749 §10.12, RFC 9700 §4.7).

The associated data also binds each value to its name and its ``setup_oauth`` (``bind``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections import OrderedDict
from collections.abc import Sequence

from aiohttp import web

from .._clock import now as wall_clock
from .._oauth.transaction import MAX_LIVE, TRANSACTION_TTL, Transaction, well_formed_state
from .cookies import DUPLICATE, exact, plugin_cookies, prefixed
from .crypto import Sealer

__all__ = ["TransactionCookies"]

_INFO = b"aiohttp-oauth2-login transaction cookie v2"
_MAX_VALUE = 3800  # a transaction with a 2 KB next fits
#: bytes the live data cookies may take in one request's ``Cookie`` header (names and values,
#: the new one included): long ``next`` values must never push the login routes past aiohttp's
#: 8 KiB header limit (the session cookie needs room there too)
_BUDGET = 4096
_KEY_CHARS = 22  # secrets.token_urlsafe(16)
_CONSUMED_MAX = 10_000


class TransactionCookies:
    """Writes, lists and consumes the transaction cookies of one ``setup_oauth``."""

    def __init__(self, keys: Sequence[bytes], *, base_name: str, secure: bool) -> None:
        self._sealer = Sealer(keys, _INFO)
        self.secure = secure
        base = base_name.removeprefix("__Host-")
        #: data cookies: ``<prefix><id>`` at the login path
        self.prefix = ("__Secure-" if secure else "") + base + "-tx-"
        #: key cookies: ``<key_prefix><id>``, ``__Host-`` over https
        self.key_prefix = ("__Host-" if secure else "") + base + "-txk-"
        self._scope = b""
        self._data_names = prefixed(self.prefix)
        self._key_names = prefixed(self.key_prefix)
        # states consumed by this process in the last TRANSACTION_TTL: a callback replayed
        # concurrently (both requests still carrying the cookie) is refused too
        self._consumed: OrderedDict[str, float] = OrderedDict()

    def bind(self, scope: str) -> None:
        """Bind transactions to one ``setup_oauth`` (its login path, in the associated data)."""
        self._scope = b"\x00" + scope.encode()

    def name(self, state: str) -> str:
        """The data cookie's name for ``state`` (also the handle ``take`` returns)."""
        return self.prefix + hashlib.sha256(state.encode()).hexdigest()[:16]

    def key_name(self, name: str) -> str:
        """The key cookie that belongs to the data cookie ``name``."""
        return self.key_prefix + name.removeprefix(self.prefix)

    def key_path(self, login_path: str) -> str:
        """``Path=/`` for the ``__Host-`` key cookie (the prefix requires it), else the login
        path."""
        return "/" if self.secure else login_path

    def _aad(self, name: str, key: str) -> bytes:
        return name.encode() + self._scope + b"\x00" + key.encode()

    def _seal(self, tx: Transaction, name: str, key: str) -> str:
        plain = json.dumps(tx.to_dict(), separators=(",", ":")).encode()
        return self._sealer.seal(plain, self._aad(name, key))

    def _open(self, value: str, name: str, key: str | None) -> Transaction | None:
        if key is None or key == DUPLICATE or len(key) != _KEY_CHARS or len(value) > _MAX_VALUE:
            return None
        opened = self._sealer.open(value, self._aad(name, key))
        if opened is None:
            return None
        try:
            return Transaction.from_dict(json.loads(opened[0]))
        except (ValueError, RecursionError):
            return None

    def _cookie(
        self, response: web.StreamResponse, name: str, value: str, path: str, max_age: int
    ) -> None:
        response.set_cookie(
            name,
            value,
            path=path,
            max_age=max_age,
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )

    def delete(self, response: web.StreamResponse, name: str, path: str) -> None:
        """Delete the transaction ``name`` (both of its cookies)."""
        for cookie, at in ((name, path), (self.key_name(name), self.key_path(path))):
            response.del_cookie(cookie, path=at, secure=self.secure, httponly=True, samesite="Lax")

    def add(
        self, request: web.Request, response: web.StreamResponse, tx: Transaction, path: str
    ) -> None:
        """Store ``tx``; beyond ``MAX_LIVE`` live transactions the oldest ones are dropped.

        Expired ones are deleted; unreadable ones are left alone (they may belong to another
        setup of the app tree, and expire by themselves)."""
        now = wall_clock()
        live: list[tuple[float, str, int]] = []
        found = plugin_cookies(request, self._data_names)
        keys = plugin_cookies(request, self._key_names) if found else {}
        for name, value in found.items():
            key = keys.get(self.key_name(name))
            opened = None if value == DUPLICATE else self._open(value, name, key)
            if opened is None:
                continue
            if opened.expired(now):
                self.delete(response, name, path)
            else:
                live.append((opened.created, name, len(name) + len(value) + 3))
        name, key = self.name(tx.state), secrets.token_urlsafe(16)
        value = self._seal(tx, name, key)
        live.sort()  # oldest first: dropped first, beyond MAX_LIVE or the byte budget
        size = len(name) + len(value) + sum(entry[2] for entry in live)
        for count, (_, old, length) in enumerate(live):
            if len(live) - count < MAX_LIVE and size <= _BUDGET:
                break
            self.delete(response, old, path)
            size -= length
        self._cookie(response, name, value, path, TRANSACTION_TTL)
        self._cookie(response, self.key_name(name), key, self.key_path(path), TRANSACTION_TTL)

    def take(self, request: web.Request, state: str) -> tuple[Transaction | None, str | None]:
        """The transaction of ``state`` and the name of its cookie, which the caller deletes on
        whatever response follows (consumed once). ``None`` for an unknown, expired, replayed or
        foreign-browser state, and for a data cookie without its key cookie (planted).
        """
        tx, name, _ = self.take_explained(request, state)
        return tx, name

    def take_explained(
        self, request: web.Request, state: str
    ) -> tuple[Transaction | None, str | None, str | None]:
        """``take``, and the reason code (``errors.REASONS``) when there is no transaction.

        A consumed state's cookie is deleted by the answer that consumed it, so a replay (back
        button, reload) usually arrives without one: this process remembers the states it
        consumed in the last ``TRANSACTION_TTL`` (the same memory that refuses a concurrent
        replay, G2) and says ``tx_consumed``; another instance, or this one after a restart,
        can only say ``tx_unknown`` or ``tx_missing``. The answer never depends on the reason.
        """
        if not well_formed_state(state):
            return None, None, "state_malformed"
        name = self.name(state)
        value = plugin_cookies(request, exact(name)).get(name)
        now = wall_clock()
        while self._consumed and next(iter(self._consumed.values())) < now - TRANSACTION_TTL:
            self._consumed.popitem(last=False)
        if value is None:
            if name in self._consumed:
                return None, None, "tx_consumed"
            return None, None, "tx_unknown" if self.any_live(request) else "tx_missing"
        if value == DUPLICATE:  # two cookies of this name: one was planted; trust neither
            return None, name, "tx_duplicate"
        if name in self._consumed:
            return None, name, "tx_consumed"
        self._consumed[name] = now
        if len(self._consumed) > _CONSUMED_MAX:
            self._consumed.popitem(last=False)
        key_name = self.key_name(name)
        tx = self._open(value, name, plugin_cookies(request, exact(key_name)).get(key_name))
        if tx is None:
            return None, name, "tx_unreadable"
        if tx.expired(now):
            return None, name, "tx_expired"
        if not hmac.compare_digest(tx.state.encode(), state.encode()):
            return None, name, "tx_unknown"
        return tx, name, None

    def any_live(self, request: web.Request) -> bool:
        """Whether any transaction cookie of this site (data or key) came with ``request``."""
        return bool(
            plugin_cookies(request, self._data_names) or plugin_cookies(request, self._key_names)
        )
