"""The package's one clock.

``now()`` is wall-clock seconds: the expiry of tokens, sessions, login transactions and ID tokens.
``monotonic()`` measures intervals: cooldowns, coalescing windows, lock leases. Every module reads
time through here, so tests move it by replacing this module's ``time`` once.
"""

from __future__ import annotations

import time

__all__ = ["monotonic", "now"]


def now() -> float:
    """Seconds since the epoch."""
    return time.time()


def monotonic() -> float:
    """Seconds of a clock that never goes back (for intervals)."""
    return time.monotonic()
