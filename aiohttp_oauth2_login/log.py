"""The package logger and the helpers that keep secrets and control characters out of logs."""

from __future__ import annotations

import logging

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse
from yarl import URL

__all__ = ["RedactingAccessLogger", "logger", "one_line", "redact_url", "safe"]

logger = logging.getLogger("aiohttp_oauth2_login")


def safe(value: object, limit: int = 80) -> str:
    """Printable, length-capped text for logging values that came from outside (never secrets).

    Every code point ``str.isprintable`` refuses becomes ``?``: controls (C0, C1), but also the
    line and paragraph separators (U+2028, U+2029) that log viewers split lines at, the bidi
    overrides and zero-width format characters (U+202E, U+200B) that reorder or hide text, and
    surrogate, private-use and unassigned ones. Only the first ``limit`` characters are looked at.
    """
    text = str(value)
    head = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return head if len(text) <= limit else head + "..."


def one_line(text: str, limit: int = 300) -> str | None:
    """``text`` as one line of plain text, for a provider's ``error_description``: every control,
    format (bidi overrides, zero-width), separator or unassigned character becomes a space, each
    run of white space one space, at most ``limit`` characters (then an ellipsis); ``None`` when
    nothing is left. Not escaped: pages escape it where they render it."""
    head = text[: 4 * limit]
    shown = " ".join("".join(ch if ch.isprintable() else " " for ch in head).split())
    if not shown:
        return None
    if len(shown) > limit or len(text) > len(head):
        shown = shown[:limit].rstrip() + "\u2026"
    return shown


#: query parameters that carry secrets somewhere in an OAuth flow
SECRET_PARAMS = frozenset(
    {
        "code",
        "state",
        "nonce",
        "code_verifier",
        "code_challenge",
        "access_token",
        "refresh_token",
        "id_token",
        "id_token_hint",
        "token",
        "client_secret",
        "session_state",
    }
)


def redact_url(url: URL) -> str:
    """``url`` (path and query) with the values of secret-bearing parameters replaced."""
    if not url.query_string:
        return url.raw_path
    query = [(k, "REDACTED" if k.lower() in SECRET_PARAMS else v) for k, v in url.query.items()]
    return str(url.with_query(query))


class RedactingAccessLogger(AbstractAccessLogger):
    """An access logger that never writes a code, state, nonce or token (G21).

    Use it with ``web.run_app(app, access_log_class=RedactingAccessLogger)``; the line format
    is aiohttp's default one, with the query string redacted and the Referer reduced to its origin.
    """

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        referer = request.headers.get("Referer")
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d "%s" "%s" %.6fs',
            request.remote,
            request.method,
            safe(redact_url(request.rel_url), 2048),
            request.version.major,
            request.version.minor,
            response.status,
            response.body_length,
            safe(str(URL(referer).origin()) if referer and URL(referer).absolute else "-"),
            safe(request.headers.get("User-Agent", "-"), 200),
            time,
        )
