"""Login transactions in cookies of their own: one small encrypted cookie per transaction.

Two tabs (or two protected pages restored at once) that start a login at the same moment each
get their own cookie, so neither overwrites the other's transaction — with one session cookie
both requests would read it, add their transaction and write it back, and the last answer would
win. Each holds exactly one AES-GCM encrypted transaction, is named after a hash of its
``state``, lives at most ``TRANSACTION_TTL`` and is ``HttpOnly`` and ``SameSite=Lax``.

Over https the names carry the ``__Host-`` prefix (so ``Secure``, ``Path=/`` and no ``Domain``):
a ``__Secure-`` cookie may still be set with ``Domain=`` by a sibling host, which could plant a
transaction it started and approved with its own account into the victim's browser and sign the
victim in as the attacker (login CSRF, RFC 6749 §10.12, RFC 9700 §4.7). A ``__Host-`` cookie can
only come from this host. Over plain http (development) the cookies are scoped to the login
sub-app's path instead. The associated data binds each value to its name and its
``setup_oauth`` (``bind``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections import OrderedDict
from collections.abc import Sequence

from aiohttp import web

from .._oauth.transaction import MAX_LIVE, TRANSACTION_TTL, Transaction, well_formed_state
from .cookies import DUPLICATE, exact, plugin_cookies, prefixed
from .crypto import Sealer

__all__ = ["TransactionCookies"]

_INFO = b"aiohttp-oauth2-login transaction cookie v1"
_MAX_VALUE = 3800  # a transaction with a 2 KB next fits
_CONSUMED_MAX = 10_000


class TransactionCookies:
    """Writes, lists and consumes the transaction cookies of one ``setup_oauth``."""

    def __init__(self, keys: Sequence[bytes], *, base_name: str, secure: bool) -> None:
        self._sealer = Sealer(keys, _INFO)
        self.secure = secure
        self.prefix = ("__Host-" if secure else "") + base_name.removeprefix("__Host-") + "-tx-"
        self._scope = b""
        self._names = prefixed(self.prefix)
        # states consumed by this process in the last TRANSACTION_TTL: a callback replayed
        # concurrently (both requests still carrying the cookie) is refused too
        self._consumed: OrderedDict[str, float] = OrderedDict()

    def bind(self, scope: str) -> None:
        """Bind transactions to one ``setup_oauth`` (its login path, in the associated data)."""
        self._scope = b"\x00" + scope.encode()

    def name(self, state: str) -> str:
        return self.prefix + hashlib.sha256(state.encode()).hexdigest()[:16]

    def path(self, login_path: str) -> str:
        """``Path=/`` for ``__Host-`` cookies (required by the prefix), else the login path."""
        return "/" if self.secure else login_path

    def _seal(self, tx: Transaction, name: str) -> str:
        plain = json.dumps(tx.to_dict(), separators=(",", ":")).encode()
        return self._sealer.seal(plain, name.encode() + self._scope)

    def _open(self, value: str, name: str) -> Transaction | None:
        if len(value) > _MAX_VALUE:
            return None
        opened = self._sealer.open(value, name.encode() + self._scope)
        if opened is None:
            return None
        try:
            return Transaction.from_dict(json.loads(opened[0]))
        except (ValueError, RecursionError):
            return None

    def _set(self, response: web.StreamResponse, name: str, value: str, path: str) -> None:
        response.set_cookie(
            name,
            value,
            path=self.path(path),
            max_age=TRANSACTION_TTL,
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )

    def _delete(self, response: web.StreamResponse, name: str, path: str) -> None:
        response.del_cookie(
            name, path=self.path(path), secure=self.secure, httponly=True, samesite="Lax"
        )

    def add(
        self, request: web.Request, response: web.StreamResponse, tx: Transaction, path: str
    ) -> None:
        """Store ``tx``; beyond ``MAX_LIVE`` live transactions the oldest ones are dropped.

        Expired ones are deleted; unreadable ones are left alone (they may belong to another
        setup of the app tree, and expire by themselves)."""
        now = time.time()
        live: list[tuple[float, str]] = []
        for name, value in plugin_cookies(request, self._names).items():
            found = None if value == DUPLICATE else self._open(value, name)
            if found is None:
                continue
            if found.expired(now):
                self._delete(response, name, path)
            else:
                live.append((found.created, name))
        live.sort()
        for _, name in live[: max(0, len(live) - MAX_LIVE + 1)]:
            self._delete(response, name, path)
        name = self.name(tx.state)
        self._set(response, name, self._seal(tx, name), path)

    def delete(self, response: web.StreamResponse, name: str, path: str) -> None:
        self._delete(response, name, path)

    def take(self, request: web.Request, state: str) -> tuple[Transaction | None, str | None]:
        """The transaction of ``state`` and the name of its cookie, which the caller deletes on
        whatever response follows (consumed once). ``None`` for an unknown, expired, replayed or
        foreign-browser state.
        """
        if not well_formed_state(state):
            return None, None
        name = self.name(state)
        value = plugin_cookies(request, exact(name)).get(name)
        if value is None:
            return None, None
        if value == DUPLICATE:  # two cookies of this name: one was planted; trust neither
            return None, name
        now = time.time()
        while self._consumed and next(iter(self._consumed.values())) < now - TRANSACTION_TTL:
            self._consumed.popitem(last=False)
        if name in self._consumed:
            return None, name
        self._consumed[name] = now
        if len(self._consumed) > _CONSUMED_MAX:
            self._consumed.popitem(last=False)
        tx = self._open(value, name)
        if tx is None or tx.expired(now):
            return None, name
        if not hmac.compare_digest(tx.state.encode(), state.encode()):
            return None, name
        return tx, name
