"""HTTP plumbing of the fake provider: error, redirect and Bearer-challenge responses (RFC 6749
§5.2, RFC 6750 §3), form reading, client authentication (RFC 6749 §2.3.1), redirect-URI
helpers, and the slow answers of the hanging failure modes, which end when the server stops.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import time
from collections.abc import Mapping
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from aiohttp import web

HANG_SECONDS = 3600.0
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_STOPPING = web.AppKey("fake_provider_stopping", asyncio.Event)


# ---- responses and requests --------------------------------------------------------------------


def oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    """An RFC 6749 §5.2 error response."""
    body = {"error": error, "error_description": description}
    return web.json_response(body, status=status, headers=NO_STORE)


def redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, **NO_STORE})


def bearer_challenge(error: str | None = None) -> web.Response:
    value = 'Bearer realm="fake-provider"' + (f', error="{error}"' if error else "")
    body = {"error": error or "invalid_request"}
    return web.json_response(body, status=401, headers={"WWW-Authenticate": value, **NO_STORE})


def bearer_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 §2.1), if that is the scheme."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


async def read_form(request: web.Request) -> tuple[dict[str, str], bool]:
    """The form's string fields (first value of each) and whether no field was repeated."""
    post = await request.post()
    fields: dict[str, str] = {}
    for key, value in post.items():
        if isinstance(value, str):
            fields.setdefault(key, value)
    return fields, len(set(post.keys())) == len(post)


def client_auth_method(request: web.Request, form: Mapping[str, str]) -> str:
    if request.headers.get("Authorization", "").lower().startswith("basic "):
        return "basic"
    return "post" if "client_secret" in form else "none"


def authenticate_client(
    request: web.Request, form: Mapping[str, str], *, client_id: str, client_secret: str
) -> web.Response | None:
    """Check client credentials (RFC 6749 §2.3.1); an error response when they fail."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        if "client_secret" in form:
            return oauth_error("invalid_request", "use one client authentication method")
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        raw_id, _, raw_secret = decoded.partition(":")
        given_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if "client_id" in form and form["client_id"] != given_id:
            return oauth_error("invalid_request", "client_id does not match the credentials")
    else:
        given_id, secret = form.get("client_id", ""), form.get("client_secret", "")
    id_ok = hmac.compare_digest(given_id.encode(), client_id.encode())
    secret_ok = hmac.compare_digest(secret.encode(), client_secret.encode())
    if id_ok and secret_ok:
        return None
    response = oauth_error("invalid_client", "client authentication failed", 401)
    response.headers["WWW-Authenticate"] = 'Basic realm="fake-provider"'
    return response


def usable_redirect_uri(uri: str) -> bool:
    """An absolute http(s) URL with a host, no fragment and no whitespace or control chars."""
    if not uri or len(uri) > 2048 or any(ch.isspace() or ord(ch) < 32 for ch in uri):
        return False
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.fragment


def add_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


# ---- slow answers ------------------------------------------------------------------------------


def watch_shutdown(app: web.Application) -> None:
    """Let :func:`hang` in *app*'s handlers end when the app shuts down."""
    app[_STOPPING] = asyncio.Event()
    app.on_startup.append(_on_startup)
    app.on_shutdown.append(_on_shutdown)


async def _on_startup(app: web.Application) -> None:
    app[_STOPPING].clear()


async def _on_shutdown(app: web.Application) -> None:
    app[_STOPPING].set()  # lets hanging handlers end instead of stalling the shutdown


async def hang(request: web.Request, seconds: float = HANG_SECONDS) -> bool:
    """Sleep, ending early when the client hangs up or the server shuts down.

    Returns whether the client is still connected.
    """
    deadline = time.monotonic() + seconds
    stopping = request.app[_STOPPING]
    while time.monotonic() < deadline:
        transport = request.transport
        if stopping.is_set() or transport is None or transport.is_closing():
            return False
        await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return True


async def huge_response(request: web.Request) -> web.StreamResponse:
    """About 5 MB of valid JSON, chunked without a Content-Length."""
    response = web.StreamResponse(headers=NO_STORE)
    response.content_type = "application/json"
    await response.prepare(request)
    chunk = b"x" * 65536
    try:
        await response.write(b'{"access_token":"huge","token_type":"Bearer","padding":"')
        for _ in range(80):
            await response.write(chunk)
        await response.write(b'"}')
        await response.write_eof()
    except ConnectionError:
        pass
    return response


async def trickle(request: web.Request, body: bytes, status: int) -> web.StreamResponse:
    """Send the JSON *body* one byte per second."""
    response = web.StreamResponse(status=status, headers=NO_STORE)
    response.content_type = "application/json"
    response.content_length = len(body)
    await response.prepare(request)
    try:
        for index in range(len(body)):
            await response.write(body[index : index + 1])
            if index + 1 < len(body) and not await hang(request, 1.0):
                return response
        await response.write_eof()
    except ConnectionError:
        pass
    return response
