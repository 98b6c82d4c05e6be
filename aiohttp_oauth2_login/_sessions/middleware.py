"""The session middleware: aiohttp-session's contract in one layer with the plugin's additions.

Same contract as aiohttp-session's own middleware (the storage under ``STORAGE_KEY``; the
session saved on a returned response or a raised ``HTTPException``), plus: it steps aside when
an outer application's session middleware is already in charge, and a session store that is down
is a 503 page that names the problem, never a 500.
"""

from __future__ import annotations

import warnings

import aiohttp_session
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .._pages import error_page
from ..errors import SessionStoreUnavailable
from ..log import logger
from .backend import SessionBackend

__all__ = ["session_middleware", "spend_string_key_warnings"]


def spend_string_key_warnings() -> None:
    """aiohttp (3.14+) warns once per process for each plain-string request key, and
    aiohttp-session's keys are plain strings: spend those two warnings here, silenced, so an app
    (or its tests under ``-W error``) never sees a warning about a library's internals."""
    category = getattr(web, "NotAppKeyWarning", None)
    if category is None:  # older aiohttp does not warn
        return
    from aiohttp.test_utils import make_mocked_request  # only here: a request to spend them on

    request = make_mocked_request("GET", "/")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category)
        for key in (aiohttp_session.STORAGE_KEY, aiohttp_session.SESSION_KEY):
            request[key] = None


def session_middleware(backend: SessionBackend) -> Middleware:
    """The middleware for ``backend``'s storage."""
    storage, outage = backend.storage, backend.outage_errors
    storage_key, session_key = aiohttp_session.STORAGE_KEY, aiohttp_session.SESSION_KEY

    @web.middleware
    async def oauth_session_middleware(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if request.get(storage_key) is not None:  # an outer session middleware is in charge
            return await handler(request)
        request[storage_key] = storage
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                await _save(request, exc)
                raise
            if isinstance(response, web.Response):  # not streamed or a websocket
                await _save(request, response)
            return response
        except outage as exc:  # the store is down: a clear 503, and service resumes by itself
            logger.error("session store unavailable: %s", type(exc).__name__)
            return await error_page(request, SessionStoreUnavailable())

    async def _save(request: web.Request, response: web.StreamResponse) -> None:
        session = request.get(session_key)
        if session is not None and session._changed:
            if response.prepared:
                raise RuntimeError("cannot save the session into a prepared response")
            await storage.save_session(request, response, session)

    return oauth_session_middleware
