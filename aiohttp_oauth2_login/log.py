"""The package logger and the helpers that keep secrets and control characters out of logs."""

from __future__ import annotations

import logging
import re

__all__ = ["logger", "redact", "safe"]

logger = logging.getLogger("aiohttp_oauth2_login")

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def redact(value: object) -> str:
    """Stand-in for a secret in a log line: says whether it was there, never what it was."""
    if value is None or value == "":
        return "<absent>"
    return "<redacted>"


def safe(value: object, limit: int = 80) -> str:
    """Printable, length-capped text for logging values that came from outside (never secrets)."""
    text = _UNPRINTABLE.sub("?", str(value))
    return text if len(text) <= limit else text[:limit] + "..."
