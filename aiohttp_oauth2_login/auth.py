"""Handler API: ``require_login``, ``@login_required``, ``get_user`` and ``logout``.

No app-wide middleware runs for them (``_sessions.middleware`` says why): each of them hands
aiohttp-session the plugin's storage for its request (``attach``), and ``@login_required`` saves
a changed session onto the response or ``HTTPException`` it passes on, as aiohttp-session's
middleware would; a plain handler's change is saved by the app's ``on_response_prepare`` signal.
"""

from __future__ import annotations

import functools
import inspect
import json
import weakref
from collections.abc import Awaitable, Callable, Collection, Coroutine
from typing import Any, Final, TypeVar, overload

import aiohttp_session
from aiohttp import hdrs, web

from ._awaitable import MustAwait
from ._pages import SECURITY_HEADERS, error_page
from ._plugin import OAuthLogin
from ._sessions.access import AuthState, clear_login, load_auth, stored_side
from ._sessions.middleware import attach, save_pending, unavailable_page
from ._sessions.peek import SLOW, Slow
from .errors import (
    LoginRefused,
    ProviderError,
    ProviderTimeout,
    ReauthenticationRequired,
)
from .keys import APP_KEY
from .user import User

__all__ = ["get_user", "login_required", "logout", "require_login"]

Allow = Callable[[User], bool | Awaitable[bool]]
_F = TypeVar("_F", bound=Callable[..., Awaitable[web.StreamResponse]])
_V = TypeVar("_V", bound=type[web.View])
_SESSION: Final = aiohttp_session.SESSION_KEY


def get_login(request: web.Request) -> OAuthLogin:
    """The plugin handle of this app (or of a parent app): found through ``config_dict``; for a
    handler outside the app ``setup_oauth`` was called on, the one setup below the root app."""
    # the handler's own app first (its own dict: ``APP_KEY in app`` is two Python calls), as
    # ``config_dict`` builds a new chain on every call
    found = request.app._state.get(APP_KEY)
    login = found if isinstance(found, OAuthLogin) else request.config_dict.get(APP_KEY)
    if login is not None:
        return login
    return _login_below(request)


#: root app -> the one setup below it, or why there is none (the tree is frozen: found once)
_BELOW: weakref.WeakKeyDictionary[web.Application, OAuthLogin | str] = weakref.WeakKeyDictionary()
#: set on a plain handler's request whose session nothing would save: the handler is outside
#: the app of ``setup_oauth`` (its ``on_response_prepare`` does not run) and not decorated
_READ_ONLY: Final[Any] = (
    web.RequestKey[str]("aiohttp_oauth2_login.read_only")
    if hasattr(web, "RequestKey")
    else "aiohttp_oauth2_login.read_only"
)


def _setups_below(app: web.Application, prefix: str = "") -> list[tuple[str, OAuthLogin]]:
    """Every ``setup_oauth`` in the tree of ``app``, with the path its app is mounted at."""
    if APP_KEY in app:
        return [(prefix or "/", app[APP_KEY])]
    found = []
    for resource in app.router.resources():
        sub = getattr(resource, "_app", None)
        if isinstance(sub, web.Application):
            found += _setups_below(sub, prefix + resource.canonical)
    return found


def _login_below(request: web.Request) -> OAuthLogin:
    apps = request.match_info.apps
    root = apps[0] if apps else request.app
    found = _BELOW.get(root)
    if found is None:
        setups = _setups_below(root)
        if len(setups) == 1:
            found = setups[0][1]
        elif not setups:
            found = (
                "aiohttp_oauth2_login is not set up for this application: "
                "call aiohttp_oauth2_login.setup_oauth(app, ...) first"
            )
        else:
            found = (
                "this handler's application has no setup_oauth, and the sub-applications at "
                + ", ".join(repr(path) for path, _ in setups)
                + " each have their own: which login applies is ambiguous. Move the handler "
                "into the sub-application whose login it needs, or call setup_oauth once on "
                "the root application"
            )
        if root.frozen:
            _BELOW[root] = found
    if isinstance(found, str):
        raise RuntimeError(found)
    if request.get(aiohttp_session.STORAGE_KEY) is None:
        # no session middleware runs for this handler: unless @login_required saves it, the
        # session can be read, not saved
        request[_READ_ONLY] = found.login_url()
    return found


def require_writable(request: web.Request, what: str) -> None:
    """Refuse ``what`` (it must save the session) in a plain handler outside the app of
    ``setup_oauth``: nothing saves the session there, so the change would be lost silently."""
    login_path = request.get(_READ_ONLY)
    if login_path is not None:
        raise RuntimeError(
            f"{what} cannot save the session in a plain handler outside the application that "
            f"setup_oauth was called on (its login is at {login_path}): decorate it with "
            "@login_required (which saves the session), move it into that application, or "
            "call setup_oauth on the root application"
        )


def get_user(request: web.Request) -> Coroutine[Any, Any, User | None]:
    """The signed-in user, or ``None``: ``user = await get_user(request)``.

    Not awaited, it fails loudly: ``if get_user(request):`` raises ``TypeError`` (a coroutine is
    always true), and one dropped unawaited is logged at ERROR.
    """
    return MustAwait(_get_user(request), "get_user")


async def _get_user(request: web.Request) -> User | None:
    return await _current_user(request, get_login(request))


async def _current_user(request: web.Request, login: OAuthLogin) -> User | None:
    attach(request, login.backend)
    quick = login.backend.quick_peek
    try:
        # the cheap check, if it decides (a plain call where it never waits)
        user = (
            quick(request, login.config)
            if quick
            else await login.backend.peek(request, login.config)
        )
        if isinstance(user, Slow):
            return (await load_auth(request, login.config)).user
        return user
    except login.backend.outage_errors as exc:  # the same 503 page in any handler (G17)
        raise await _unavailable(request, exc) from None


async def load_state(request: web.Request, login: OAuthLogin) -> AuthState:
    """The visitor's full session state (``get_client``); a store outage is the 503 page."""
    attach(request, login.backend)
    try:
        return await load_auth(request, login.config)
    except login.backend.outage_errors as exc:
        raise await _unavailable(request, exc) from None


async def _unavailable(request: web.Request, exc: BaseException) -> web.HTTPException:
    """The session store's 503 page (the app's ``render=`` hook draws it when it has one), as
    an exception any handler can raise."""
    page = await unavailable_page(request, exc)
    headers = {k: v for k, v in page.headers.items() if k in SECURITY_HEADERS}
    return web.HTTPServiceUnavailable(
        text=page.text, content_type=page.content_type, headers=headers
    )


def logout(request: web.Request) -> Coroutine[Any, Any, None]:
    """Sign the visitor out locally (the session is cleared; tokens are not revoked).

    ``await logout(request)``: one dropped unawaited signs nobody out and is logged at ERROR.
    """
    return MustAwait(_logout(request), "logout")


async def _logout(request: web.Request) -> None:
    login = get_login(request)
    require_writable(request, "logout()")
    attach(request, login.backend)
    try:
        await clear_login(request, login.config)
        side = stored_side(request)
        identity = (await aiohttp_session.get_session(request)).identity
        if side is not None and identity is not None:
            # ended now, not only when the response is saved: a plain handler's save comes too
            # late to turn a store outage into an error, and must never leave it signed in
            await side.forget(str(identity))
    except login.backend.outage_errors as exc:
        raise await _unavailable(request, exc) from None


def _is_navigation(request: web.Request) -> bool:
    return request.method in (hdrs.METH_GET, hdrs.METH_HEAD) and "text/html" in request.headers.get(
        "Accept", ""
    )


def login_redirect(
    request: web.Request, login: OAuthLogin, providers: Collection[str] | None
) -> web.HTTPException:
    """302 to the login page for browsers, 401 JSON for everything else (docs/configuration.md,
    "Protecting handlers")."""
    login.guard.check(request)
    allowed = [p for p in login.providers if providers is None or p in providers]
    target = login.login_url(
        allowed[0] if len(allowed) == 1 else None, next=request.rel_url.path_qs
    )
    if _is_navigation(request):
        return web.HTTPFound(target, headers={"Cache-Control": "no-store"})
    return web.HTTPUnauthorized(
        text=json.dumps({"error": "login_required", "login_url": target}),
        content_type="application/json",
        headers={"Cache-Control": "no-store"},
    )


class _ReauthenticationRedirect(web.HTTPFound, ReauthenticationRequired):  # type: ignore[misc,override]
    """``ReauthenticationRequired`` that, left uncaught, is the login redirect itself."""


class _ReauthenticationDenied(web.HTTPUnauthorized, ReauthenticationRequired):  # type: ignore[misc,override]
    """``ReauthenticationRequired`` that, left uncaught, is the 401 JSON answer itself."""


def reauthentication(
    request: web.Request, login: OAuthLogin, providers: Collection[str] | None
) -> ReauthenticationRequired:
    """A ``ReauthenticationRequired`` to raise from ``get_client``: handlers may catch it as
    documented, and uncaught (no ``@login_required`` around) it is the login redirect / 401 of
    :func:`login_redirect` instead of a 500."""
    answer = login_redirect(request, login, providers)
    if isinstance(answer, web.HTTPFound):
        return _ReauthenticationRedirect(answer.location, headers={"Cache-Control": "no-store"})
    return _ReauthenticationDenied(
        text=answer.text, content_type=answer.content_type, headers={"Cache-Control": "no-store"}
    )


async def _forbidden(request: web.Request) -> web.HTTPException:
    """403 for a signed-in visitor this page is not for: translated, drawn by the app's
    ``render=`` hook when it has one, with the plugin's headers."""
    refused = LoginRefused("You are signed in but may not open this page.")
    refused.title = "Access denied"
    page = await error_page(request, refused)
    headers = {k: v for k, v in page.headers.items() if k in SECURITY_HEADERS}
    return web.HTTPForbidden(text=page.text, content_type=page.content_type, headers=headers)


def require_login(
    request: web.Request,
    *,
    providers: Collection[str] | None = None,
    allow: Allow | None = None,
) -> Coroutine[Any, Any, User]:
    """The signed-in user, or raise the login redirect / 401; 403 when not allowed.

    ``user = await require_login(request)`` is typed ``User``: the typed way to guard a handler
    inline. Not awaited, it fails loudly like ``get_user``.
    """
    return MustAwait(_require_login(request, providers, allow), "require_login")


async def _require_login(
    request: web.Request, providers: Collection[str] | None, allow: Allow | None
) -> User:
    login = get_login(request)
    return await _admit(request, login, await _current_user(request, login), providers, allow)


async def _admit(
    request: web.Request,
    login: OAuthLogin,
    user: User | None,
    providers: Collection[str] | None,
    allow: Allow | None,
) -> User:
    """``user`` if this page is for them; else the login redirect / 401, or the 403."""
    if user is None:
        raise login_redirect(request, login, providers)
    if providers is not None and user.provider not in providers:
        raise await _forbidden(request)
    if allow is not None:
        verdict = allow(user)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if verdict is not True:
            raise await _forbidden(request)
    return user


def _request_of(args: tuple[Any, ...]) -> web.Request:
    first = args[0]
    if type(first) is web.Request:  # the usual handler(request)
        return first
    if isinstance(first, web.View):
        return first.request
    request = args[-1]  # handlers may be methods: (self, request)
    if not isinstance(request, web.BaseRequest):
        raise TypeError("@login_required handlers take the request as their last argument")
    return request  # type: ignore[return-value]


def _wrap(
    handler: Callable[..., Awaitable[web.StreamResponse]],
    providers: Collection[str] | None,
    allow: Allow | None,
) -> Callable[..., Awaitable[web.StreamResponse]]:
    restricted = providers is not None or allow is not None

    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> web.StreamResponse:
        request = _request_of(args)
        login = get_login(request)
        request._state.pop(_READ_ONLY, None)  # this wrapper saves the session
        try:
            try:
                quick = login.backend.quick_peek
                user = quick(request, login.config) if quick and not restricted else SLOW
                if user.__class__ is User:  # decided by the cookie alone: no coroutine needed
                    attach(request, login.backend)  # aiohttp_session.get_session works inside
                else:
                    checked = None if user is None else await _current_user(request, login)
                    await _admit(request, login, checked, providers, allow)
                try:
                    response = await handler(*args, **kwargs)
                except ReauthenticationRequired:
                    await _logout(request)
                    raise login_redirect(request, login, providers) from None
                except (ProviderError, ProviderTimeout) as exc:  # e.g. a refresh failed
                    response = await error_page(request, exc)
            except web.HTTPException as exc:
                await save_pending(request, exc)
                raise
            if _SESSION in request._state and not response.prepared:  # else nothing to save,
                await save_pending(request, response)  # or on_response_prepare saved it
            return response
        except login.backend.outage_errors as exc:  # e.g. the handler's own session access
            return await unavailable_page(request, exc)

    wrapper.__dict__["__oauth_login_required__"] = True  # how testing.chaos finds protected routes
    return wrapper


def _is_async(func: object) -> bool:
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.iscoroutinefunction(func) or (
        callable(func) and inspect.iscoroutinefunction(type(func).__call__)
    )


def _async_handler(func: Any) -> Any:
    """``func``, or a ``TypeError`` naming it when it is a plain ``def``: awaiting its answer
    would fail on every request (a 500), so the mistake is refused at decoration time."""
    if not _is_async(func):
        name = getattr(func, "__qualname__", None) or repr(func)
        raise TypeError(
            f"@login_required needs an 'async def' handler, but {name} is a plain function: "
            f"write 'async def {getattr(func, '__name__', 'handler')}(...)'"
        )
    return func


def _decorate(target: Any, providers: Collection[str] | None, allow: Allow | None) -> Any:
    if isinstance(target, type) and issubclass(target, web.View):
        methods = [m.lower() for m in hdrs.METH_ALL if getattr(target, m.lower(), None)]
        for method in methods:  # every method is checked before the class is changed
            _async_handler(getattr(target, method))
        for method in methods:
            setattr(target, method, _wrap(getattr(target, method), providers, allow))
        return target
    if not callable(target):
        raise TypeError("@login_required decorates a handler function or a web.View class")
    return _wrap(_async_handler(target), providers, allow)


@overload
def login_required(handler: _V, /) -> _V: ...
@overload
def login_required(handler: _F, /) -> _F: ...
@overload
def login_required(
    *, providers: Collection[str] | None = None, allow: Allow | None = None
) -> Callable[[_F], _F]: ...
def login_required(
    handler: Any = None,
    /,
    *,
    providers: Collection[str] | None = None,
    allow: Allow | None = None,
) -> Any:
    """Protect a handler or a ``web.View``: anonymous → login redirect / 401, not allowed → 403.

    ``providers`` limits which providers' users may enter; ``allow(user)`` (sync or async)
    must return True. ``ReauthenticationRequired`` inside the handler restarts the login.
    """
    if isinstance(providers, str):
        providers = (providers,)
    if handler is None:
        return lambda target: _decorate(target, providers, allow)
    return _decorate(handler, providers, allow)
