"""Handler API: ``require_login``, ``@login_required``, ``get_user`` and ``logout``."""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Awaitable, Callable, Collection, Coroutine
from typing import Any, TypeVar, overload

from aiohttp import hdrs, web

from ._awaitable import MustAwait
from ._pages import SECURITY_HEADERS, error_response
from ._plugin import OAuthLogin
from ._sessions.access import clear_login, load_auth
from ._sessions.peek import Slow
from .errors import LoginRefused, ProviderError, ProviderTimeout, ReauthenticationRequired
from .keys import APP_KEY
from .user import User

__all__ = ["get_user", "login_required", "logout", "require_login"]

Allow = Callable[[User], bool | Awaitable[bool]]
_F = TypeVar("_F", bound=Callable[..., Awaitable[web.StreamResponse]])
_V = TypeVar("_V", bound=type[web.View])


def get_login(request: web.Request) -> OAuthLogin:
    """The plugin handle of this app (or of a parent app): found through ``config_dict``."""
    login: OAuthLogin | None = request.config_dict.get(APP_KEY)
    if login is None:
        raise RuntimeError(
            "aiohttp_oauth2_login is not set up for this application: "
            "call aiohttp_oauth2_login.setup_oauth(app, ...) first"
        )
    return login


def get_user(request: web.Request) -> Coroutine[Any, Any, User | None]:
    """The signed-in user, or ``None``: ``user = await get_user(request)``.

    Not awaited, it fails loudly: ``if get_user(request):`` raises ``TypeError`` (a coroutine is
    always true), and one dropped unawaited is logged at ERROR.
    """
    return MustAwait(_get_user(request), "get_user")


async def _get_user(request: web.Request) -> User | None:
    return await _current_user(request, get_login(request))


async def _current_user(request: web.Request, login: OAuthLogin) -> User | None:
    user = await login.backend.peek(request, login.config)  # the cheap check, when it can decide
    if isinstance(user, Slow):
        return (await load_auth(request, login.config)).user
    return user


def logout(request: web.Request) -> Coroutine[Any, Any, None]:
    """Sign the visitor out locally (the session is cleared; tokens are not revoked).

    ``await logout(request)``: one dropped unawaited signs nobody out and is logged at ERROR.
    """
    return MustAwait(_logout(request), "logout")


async def _logout(request: web.Request) -> None:
    await clear_login(request, get_login(request).config)


def _is_navigation(request: web.Request) -> bool:
    return request.method in (hdrs.METH_GET, hdrs.METH_HEAD) and "text/html" in request.headers.get(
        "Accept", ""
    )


def login_redirect(
    request: web.Request, login: OAuthLogin, providers: Collection[str] | None
) -> web.HTTPException:
    """302 to the login page for browsers, 401 JSON for everything else (README, Routes)."""
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


def _forbidden(request: web.Request) -> web.HTTPException:
    page = error_response(request, LoginRefused("You are signed in but may not open this page."))
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
    user = await _current_user(request, login)
    if user is None:
        raise login_redirect(request, login, providers)
    if providers is not None and user.provider not in providers:
        raise _forbidden(request)
    if allow is not None:
        verdict = allow(user)
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if verdict is not True:
            raise _forbidden(request)
    return user


def _request_of(args: tuple[Any, ...]) -> web.Request:
    first = args[0]
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
    @functools.wraps(handler)
    async def wrapper(*args: Any, **kwargs: Any) -> web.StreamResponse:
        request = _request_of(args)
        await _require_login(request, providers, allow)
        try:
            return await handler(*args, **kwargs)
        except ReauthenticationRequired:
            await _logout(request)
            raise login_redirect(request, get_login(request), providers) from None
        except (ProviderError, ProviderTimeout) as exc:  # e.g. the provider failed a refresh
            return error_response(request, exc)

    return wrapper


def _decorate(target: Any, providers: Collection[str] | None, allow: Allow | None) -> Any:
    if isinstance(target, type) and issubclass(target, web.View):
        for method in hdrs.METH_ALL:
            func = getattr(target, method.lower(), None)
            if func is not None:
                setattr(target, method.lower(), _wrap(func, providers, allow))
        return target
    if not callable(target):
        raise TypeError("@login_required decorates a handler function or a web.View class")
    return _wrap(target, providers, allow)


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
