"""A per-kind rate limit for WARNING lines: the failures a stream of requests can repeat are
logged at WARNING once a minute per kind, the rest at INFO (one clock: ``_clock.monotonic()``)."""

from __future__ import annotations

import logging

from . import _clock

__all__ = ["WARNING_INTERVAL", "warning_level"]

#: seconds between two WARNING lines of one kind: the rest of a flood is logged at INFO
WARNING_INTERVAL = 60.0
#: kind -> when its last WARNING was logged; kinds are reason codes, a bounded set
_LAST_WARNING: dict[str, float] = {}


def warning_level(kind: str) -> int:
    """``logging.WARNING`` for the first line of ``kind`` in ``WARNING_INTERVAL`` seconds,
    ``logging.INFO`` for the others: a flood of requests cannot fill an operator's log (or
    alerts) at WARNING, and the first line of each kind still shows."""
    now = _clock.monotonic()
    last = _LAST_WARNING.get(kind)
    if last is not None and 0 <= now - last < WARNING_INTERVAL:
        return logging.INFO
    _LAST_WARNING[kind] = now
    return logging.WARNING
