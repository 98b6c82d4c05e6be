"""Bounded back-channel HTTP: no redirects, explicit timeouts, a body cap, JSON objects only.

Every request to a provider goes through ``fetch_json`` so that a slow, huge or redirecting answer
becomes a clean ``ProviderTimeout`` / ``ProviderError`` (G6) instead of a hang or a 500.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..errors import ProviderError, ProviderTimeout
from ..log import logger, safe

__all__ = ["DEFAULT_LIMITS", "HttpLimits", "JsonResponse", "fetch_json"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpLimits:
    """Timeouts (seconds) and the response size cap for every back-channel request."""

    connect_timeout: float = 5.0
    total_timeout: float = 10.0
    max_body: int = 1024 * 1024

    @property
    def client_timeout(self) -> aiohttp.ClientTimeout:
        return _client_timeout(self.connect_timeout, self.total_timeout)


@functools.lru_cache(maxsize=16)
def _client_timeout(connect: float, total: float) -> aiohttp.ClientTimeout:
    """One ``ClientTimeout`` (immutable) per pair of limits instead of one per request."""
    return aiohttp.ClientTimeout(
        total=total, connect=connect, sock_connect=connect, sock_read=total
    )


DEFAULT_LIMITS = HttpLimits()
_ACCEPT_JSON: Mapping[str, str] = {"Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class JsonResponse:
    """A provider's answer: HTTP status, headers of interest and the parsed JSON (any shape)."""

    status: int
    body: Any
    www_authenticate: str | None = None


async def fetch_json(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    limits: HttpLimits,
    *,
    headers: Mapping[str, str] | None = None,
    data: Mapping[str, str] | None = None,
    json_body: Mapping[str, Any] | None = None,
    what: str = "request",
    parse: bool = True,
    source: str | None = None,
) -> JsonResponse:
    """Send one request and parse its JSON answer within ``limits``.

    Redirects are never followed: a 3xx is an error (a 307 would re-send the code, verifier and
    secret elsewhere). Non-JSON bodies, oversized bodies and network failures raise
    ``ProviderError``; timeouts raise ``ProviderTimeout``. ``parse=False`` does not require
    JSON (revocation answers may be empty): the body is parsed only if it is JSON. ``source``
    (``"token"``, ``"userinfo"``, ...) names the request in the errors' reason codes
    (``token_timeout``, ``userinfo_not_json``, ...).
    """

    def failed(exc: ProviderError | ProviderTimeout, kind: str) -> ProviderError | ProviderTimeout:
        return exc.explain(f"{source}_{kind}") if source is not None else exc

    hdrs = {**_ACCEPT_JSON, **headers} if headers else _ACCEPT_JSON
    try:
        async with http.request(
            method,
            url,
            headers=hdrs,
            data=dict(data) if data is not None else None,
            json=json_body,
            allow_redirects=False,
            timeout=limits.client_timeout,
        ) as resp:
            if 300 <= resp.status < 400:
                logger.warning("%s to %s answered a redirect: refused", what, safe(url))
                raise failed(ProviderError(), "redirect")
            declared = resp.content_length
            if declared is not None and declared > limits.max_body:
                logger.warning("%s answer too large (%d bytes)", what, declared)
                raise failed(ProviderError(), "too_large")
            raw = bytearray()
            async for chunk in resp.content.iter_chunked(64 * 1024):
                raw += chunk
                if len(raw) > limits.max_body:
                    logger.warning("%s answer larger than %d bytes", what, limits.max_body)
                    raise failed(ProviderError(), "too_large")
            status = resp.status
            www_authenticate = resp.headers.get("WWW-Authenticate")
    except asyncio.TimeoutError as exc:
        logger.warning("%s to %s timed out", what, safe(url))
        raise failed(ProviderTimeout(), "timeout") from exc
    except aiohttp.ClientError as exc:
        logger.warning("%s to %s failed: %s", what, safe(url), type(exc).__name__)
        raise failed(ProviderError(), "unreachable") from exc
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        if not parse:
            return JsonResponse(status, None, www_authenticate)
        logger.warning("%s answered %d with a non-JSON body", what, status)
        raise failed(ProviderError(), "not_json") from exc
    return JsonResponse(status, body, www_authenticate)
