"""Where the plugin's session is loaded and saved: per request, not app-wide.

An app-wide middleware would make every request of the app, public routes included, pay
aiohttp's middleware machinery. So by default there is none: whatever needs the session
(``@login_required``, ``require_login``, ``get_user``, ``get_client``, ``logout``, the login
routes) calls ``attach`` first, which hands aiohttp-session the plugin's storage for this one
request. The session is then saved with aiohttp-session's middleware contract (a returned
response or a raised ``HTTPException``) by the decorator and the login routes (``save_pending``)
or, for a plain handler, by ``save_on_prepare`` (the app's ``on_response_prepare`` signal: one
receiver that returns at once unless this request changed a session the plugin attached).

``session_middleware`` is the app-wide middleware, for apps whose own handlers call
``aiohttp_session.get_session`` (``setup_oauth(session_middleware=True)``). A session store that
is down is a 503 page that names the problem, never a 500 (SECURITY.md G17).
"""

from __future__ import annotations

import logging
import warnings
from typing import Any, Final

import aiohttp_session
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware

from .._pages import error_page
from ..errors import SessionStoreUnavailable
from ..log import logger
from .backend import SessionBackend

__all__ = [
    "attach",
    "hint_missing_middleware",
    "save_on_prepare",
    "save_pending",
    "serve_saving",
    "session_middleware",
    "spend_string_key_warnings",
    "unavailable_page",
]

_STORAGE: Final = aiohttp_session.STORAGE_KEY
_SESSION: Final = aiohttp_session.SESSION_KEY
#: the backend whose storage ``attach`` put on this request: the plugin saves its session
PENDING: Final[Any] = (
    web.RequestKey[SessionBackend]("aiohttp_oauth2_login.session_pending")
    if hasattr(web, "RequestKey")
    else "aiohttp_oauth2_login.session_pending"
)
#: what ``setup_oauth`` adds to aiohttp-session's "Install aiohttp_session middleware" error
MIDDLEWARE_HINT: Final = (
    " (aiohttp_oauth2_login adds no app-wide session middleware: pass "
    "setup_oauth(..., session_middleware=True) to call aiohttp_session.get_session in any "
    "handler, or call aiohttp_session.setup(app, storage) before setup_oauth)"
)


def attach(request: web.BaseRequest, backend: SessionBackend) -> bool:
    """Give aiohttp-session ``backend``'s storage for this request, unless a session middleware
    (or an earlier call) already did; whether the plugin's storage serves this request."""
    # the request's own dict: ``request.get(key)`` raises and catches a KeyError for a missing
    # key (~0.3 µs), which every request these paths look at would pay
    state = request._state
    storage = state.get(_STORAGE)
    if storage is None:
        state[_STORAGE] = backend.storage
        state[PENDING] = backend
        return True
    return storage is backend.storage


def attached_backend(request: web.BaseRequest) -> SessionBackend | None:
    """The backend ``attach`` put on this request and whose session is not saved yet."""
    backend: SessionBackend | None = request._state.get(PENDING)
    return backend


async def save_pending(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """aiohttp-session's middleware contract for a session ``attach`` gave the plugin: saved
    onto the returned response or the raised ``HTTPException``, once."""
    state = request._state
    backend: SessionBackend | None = state.pop(PENDING, None)
    if backend is None:
        return
    session = state.get(_SESSION)
    if session is not None and session._changed:
        if response.prepared:
            raise RuntimeError("cannot save the session into a prepared response")
        await backend.storage.save_session(request, response, session)  # type: ignore[arg-type]


async def save_on_prepare(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """``on_response_prepare`` receiver: saves the session a plain handler changed.

    aiohttp turns cookies into headers just before this signal, so the cookies the save sets
    are added as headers here. A store outage at this point cannot change the answer any more:
    it is logged and the change is lost (``logout`` deletes a server-side session before, so
    an outage can never leave that one signed in).
    """
    state = request._state
    if PENDING not in state:  # public routes and decorated handlers: nothing to do
        return
    backend: SessionBackend = state.pop(PENDING)
    session = state.get(_SESSION)
    if session is None or not session._changed:
        return
    before = {name: morsel.OutputString() for name, morsel in response.cookies.items()}
    try:
        await backend.storage.save_session(request, response, session)  # type: ignore[arg-type]
    except backend.outage_errors as exc:
        logger.error(
            "session store unavailable: %s; this response's session change is lost",
            type(exc).__name__,
        )
        return
    for name, morsel in list(response.cookies.items()):
        if before.get(name) != morsel.OutputString():
            response.headers.add(hdrs.SET_COOKIE, morsel.output(header="")[1:])
            del response.cookies[name]  # in case this aiohttp turns cookies into headers later


async def unavailable_page(request: web.BaseRequest, exc: BaseException) -> web.Response:
    """The 503 page of a session store outage (logged by exception type only)."""
    logger.error("session store unavailable: %s", type(exc).__name__)
    return await error_page(request, SessionStoreUnavailable())  # type: ignore[arg-type]


async def serve_saving(
    request: web.Request, backend: SessionBackend, handler: Handler
) -> web.StreamResponse:
    """Run ``handler`` with ``backend``'s session attached and save it the way aiohttp-session's
    middleware does: onto the returned response (not a streamed one: ``on_response_prepare``
    saved that) or the raised ``HTTPException``; a store outage is the 503 page (G17)."""
    attach(request, backend)
    try:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            await save_pending(request, exc)
            raise
        if not response.prepared:
            await save_pending(request, response)
        return response
    except backend.outage_errors as exc:
        return await unavailable_page(request, exc)


def session_middleware(backend: SessionBackend) -> Middleware:
    """The app-wide middleware for ``backend``'s storage (``session_middleware=True``): same
    contract as aiohttp-session's own, stepping aside when an outer one is in charge."""

    @web.middleware
    async def oauth_session_middleware(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        if request._state.get(_STORAGE) is not None:  # an outer session middleware is in charge
            return await handler(request)
        return await serve_saving(request, backend, handler)

    return oauth_session_middleware


class _MissingMiddlewareHint(logging.Filter):
    """Names the fix in aiohttp-session's "Install aiohttp_session middleware" ``RuntimeError``
    when aiohttp logs it (a plain handler called ``aiohttp_session.get_session``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, RuntimeError) and len(exc.args) == 1:
            message = exc.args[0]
            if (
                isinstance(message, str)
                and message.startswith("Install aiohttp_session middleware")
                and MIDDLEWARE_HINT not in message
            ):
                exc.args = (message + MIDDLEWARE_HINT,)
        return True


_HINT_FILTER: Final = _MissingMiddlewareHint()


def hint_missing_middleware() -> None:
    """Install the hint on aiohttp's server logger (once per process; it only looks at records
    that carry an exception)."""
    server = logging.getLogger("aiohttp.server")
    if _HINT_FILTER not in server.filters:
        server.addFilter(_HINT_FILTER)


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
        for key in (_STORAGE, _SESSION):
            request[key] = None
