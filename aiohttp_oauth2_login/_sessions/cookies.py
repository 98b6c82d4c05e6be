"""The plugin's own cookies, read strictly from the raw ``Cookie`` header (G10).

Browsers send ``name=value`` pairs joined by ``"; "``; a value never contains ``;`` (RFC 6265
§4.1.1, §5.4). aiohttp's lenient parser (``request.cookies``) also splits on spaces inside a
value and strips Unicode spaces around a name, so a cookie a browser stores as
``carrier=1 __Host-x=v`` (one cookie named ``carrier``) or as ``\\u00a0__Host-x=v`` (not a
``__Host-`` cookie: any sibling host may set it) would be read as the plugin's ``__Host-`` cookie.
Here a pair is split on ``;`` only, then only SP and HTAB are trimmed (RFC 6265 §5.2,
RFC 6265bis §5.6), and a name must match exactly. A name that occurs twice is ambiguous: the
reader gets ``DUPLICATE`` and the request counts as anonymous for the plugin (never "first wins").
One parser serves the fast login check and the full session load, so the two cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

__all__ = [
    "DUPLICATE",
    "Names",
    "chunked",
    "chunked_value",
    "exact",
    "parse_cookie_header",
    "plugin_cookies",
    "prefixed",
    "session_cookie",
]

#: the value of a name that occurs more than once in one request
DUPLICATE: Final = "\x00duplicate"
_WS = " \t"  # the only characters trimmed around a name or a value


@dataclass(frozen=True, slots=True)
class Names:
    """The cookie names a reader wants: each starts with ``needle``; ``accept`` decides."""

    needle: str
    accept: Callable[[str], bool]


def exact(name: str) -> Names:
    return Names(name, name.__eq__)


def prefixed(prefix: str) -> Names:
    """Every name that starts with ``prefix`` (the login transaction cookies)."""
    return Names(prefix, _any)


def _any(name: str) -> bool:
    return True


def chunked(name: str) -> Names:
    """``name`` and its numbered chunks ``name.1`` … ``name.9``."""
    dotted = name + "."

    def accept(candidate: str) -> bool:
        return candidate == name or (
            len(candidate) == len(dotted) + 1
            and candidate.startswith(dotted)
            and candidate[-1] in "123456789"
        )

    return Names(name, accept)


def parse_cookie_header(header: str, names: Names) -> dict[str, str]:
    """The pairs of ``header`` with one of ``names``; a repeated name maps to ``DUPLICATE``.
    Pairs without ``=`` (nameless cookies) are never the plugin's.

    Only the pairs that start with ``names.needle`` are looked at (a protected route pays for
    its own cookie, not for the app's other cookies); the result is exactly that of splitting
    the whole header on ``;`` and trimming SP and HTAB.
    """
    found: dict[str, str] = {}
    needle, accept = names.needle, names.accept
    pos = header.find(needle)
    while pos != -1:
        start = header.rfind(";", 0, pos) + 1
        end = header.find(";", pos)
        if end == -1:
            end = len(header)
        if not header[start:pos].strip(_WS):  # ``needle`` starts this pair's name
            name, eq, value = header[start:end].partition("=")
            name = name.strip(_WS)
            if eq and accept(name):
                found[name] = DUPLICATE if name in found else value.strip(_WS)
        pos = header.find(needle, end)
    return found


def plugin_cookies(request: web.Request, names: Names) -> dict[str, str]:
    """``parse_cookie_header`` over every ``Cookie`` header of ``request`` (an HTTP/2 proxy may
    split one header into several: RFC 9113 §8.2.3 says to join them with ``"; "``)."""
    headers = request.headers.getall("Cookie", ())
    if not headers:
        return {}
    header = headers[0] if len(headers) == 1 else "; ".join(headers)
    return parse_cookie_header(header, names)


def chunked_value(found: dict[str, str], name: str, max_chunks: int) -> str | None:
    """The whole value of cookie ``name``, reassembled from numbered chunks if it was split.

    A chunked value starts with ``<count>~``; a missing, malformed or duplicated chunk gives
    ``None`` (anonymous). A tampered chunk fails decryption later: the AEAD covers the whole.
    """
    first = found.get(name)
    if first is None or first == DUPLICATE:
        return None
    if len(found) > 1 and DUPLICATE in found.values():
        return None  # any repeated chunk makes the whole cookie ambiguous
    count, sep, head = first.partition("~")
    if not sep:
        return first
    if not (count.isascii() and count.isdigit()) or not 2 <= int(count) <= max_chunks:
        return None
    parts = [head]
    for index in range(1, int(count)):
        chunk = found.get(f"{name}.{index}")
        if chunk is None:
            return None
        parts.append(chunk)
    return "".join(parts)


def session_cookie(cookie_name: str, *, secure: bool) -> dict[str, Any]:
    """The name and attributes of a session cookie (G9): ``HttpOnly``, ``SameSite=Lax``,
    ``Path=/``, no ``Domain``; over https ``Secure`` and the ``__Host-`` prefix."""
    if secure and not cookie_name.startswith("__Host-"):
        cookie_name = "__Host-" + cookie_name
    return {
        "cookie_name": cookie_name,
        "path": "/",
        "secure": secure,
        "httponly": True,
        "samesite": "Lax",
    }
