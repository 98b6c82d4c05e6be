"""Coroutines of the public API that fail loudly when a caller forgets ``await``.

``if get_user(request):`` tests a coroutine object, which is always true: an anonymous visitor
would pass. ``MustAwait`` is a real ``Coroutine`` (``await``, ``asyncio.gather``,
``create_task`` and ``wait_for`` work as with the bare coroutine), but using it as a truth value
raises ``TypeError`` naming the fix, and dropping it without awaiting it logs an ERROR and warns.

The public functions are annotated as returning ``Coroutine[Any, Any, T]``, not ``MustAwait[T]``,
so type checkers keep flagging the misuse (mypy's ``unused-coroutine``, and ``truthy-bool`` when
enabled); ``__bool__`` is therefore defined for the runtime only.
"""

from __future__ import annotations

import warnings
from collections.abc import Coroutine, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from .log import logger

__all__ = ["MustAwait"]

_T = TypeVar("_T")

_FRESH, _REPORTED, _STARTED = 0, 1, 2


class MustAwait(Coroutine[Any, Any, _T]):
    """Wraps the coroutine of one call of the public function ``name``."""

    __slots__ = ("_coro", "_name", "_state")

    def __init__(self, coro: Coroutine[Any, Any, _T], name: str) -> None:
        self._coro = coro
        self._name = name  # the public function, e.g. "get_user": see _HINTS, _CONSEQUENCES
        self._state = _FRESH

    def __await__(self) -> Generator[Any, None, _T]:
        self._state = _STARTED
        return self._coro.__await__()

    def send(self, value: Any, /) -> Any:
        self._state = _STARTED
        return self._coro.send(value)

    def throw(
        self, typ: Any, val: Any = None, tb: TracebackType | None = None, /
    ) -> Any:  # the 3-argument form is deprecated since 3.12: pass it on only when it was used
        self._state = _STARTED
        if val is None and tb is None:
            return self._coro.throw(typ)
        return self._coro.throw(typ, val, tb)  # pragma: no cover - the deprecated form

    def close(self) -> None:
        self._state = _STARTED
        self._coro.close()

    def __repr__(self) -> str:
        return f"<coroutine {self._name}(request)>"

    if not TYPE_CHECKING:  # hidden from type checkers, so that they flag `if get_user(r):`

        def __bool__(self) -> bool:
            raise self._misuse("a coroutine, which is always true")

        def __eq__(self, other: object) -> bool:  # `get_user(r) == None`: never equal
            raise self._misuse("a coroutine, never equal to a user or None")

        def __ne__(self, other: object) -> bool:  # `get_user(r) != None`: always unequal
            raise self._misuse("a coroutine, never equal to a user or None")

        __hash__ = object.__hash__  # asyncio keeps awaitables in sets

    def _misuse(self, what: str) -> TypeError:
        if self._state == _FRESH:
            self._state = _REPORTED  # this TypeError is the report: no ERROR log later
        return TypeError(
            f"{self._name}(request) is {what}: "
            f"use 'await {self._name}(request)'{_HINTS.get(self._name, '')}"
        )

    def __del__(self) -> None:
        if self._state == _STARTED:
            return
        self._coro.close()  # never started: no second, confusing warning about the inner one
        if self._state == _FRESH:
            self._state = _REPORTED
            logger.error("%s(request) was never awaited: %s", self._name, _CONSEQUENCES[self._name])
            warnings.warn(
                f"coroutine {self._name!r} was never awaited",
                RuntimeWarning,
                stacklevel=2,  # the line that dropped it, as for a bare coroutine
                source=self,
            )


_HINTS = {
    "get_user": (
        ", or 'await require_login(request)', which returns the User and raises the login "
        "redirect (browsers) or 401 for anonymous visitors"
    ),
}

_CONSEQUENCES = {
    "get_user": "nobody's login was checked",
    "require_login": "the login was not checked, the handler ran for anyone",
    "logout": "the user is still signed in",
    "get_client": "no API client was made",
}
