"""The login sub-app (the front channel): the chooser, login start, callback and logout routes.

Handlers translate requests; the protocol lives in ``_oauth``, the session in ``_sessions``.
The sub-app has no middlewares: one on a sub-app makes aiohttp run the middleware chain for every
request of the whole app tree, so each route's handler is wrapped instead (``_route``), and
``Cache-Control: no-store`` comes from the sub-app's ``on_response_prepare`` (it runs only for
the sub-app's requests, its 404 and 405 answers included).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from .._sessions.middleware import serve_saving
from .logout import LogoutViews
from .views import LoginViews

if TYPE_CHECKING:
    from .._plugin import OAuthLogin

__all__ = ["add_routes"]

View = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(login: OAuthLogin) -> None:
    """The five routes of docs/quickstart.md's routes table on the login sub-app (before it is
    mounted)."""
    views = LoginViews(login)
    logout = LogoutViews(login)
    router = login.login_app.router
    router.add_get("/login", _route(login, views.chooser), name="login")
    router.add_get("/login/{provider}", _route(login, views.start), name="login_provider")
    router.add_get("/callback/{provider}", _route(login, views.callback), name="callback")
    router.add_get("/logout", _route(login, logout.confirm), name="logout")
    router.add_post("/logout", _route(login, logout.logout))
    router.add_get("/logout/done", _route(login, logout.done), name="logout_done")
    login.login_app.on_response_prepare.append(_no_store)


def _route(login: OAuthLogin, view: View) -> View:
    """``view`` with what every login route needs: the proxy check (one WARNING per process,
    L6) and the plugin's session (saved like aiohttp-session's middleware would; a store outage
    is the 503 page, G17)."""
    guard, backend = login.guard, login.backend

    async def route(request: web.Request) -> web.StreamResponse:
        guard.check(request)
        return await serve_saving(request, backend, view)

    return route


async def _no_store(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """``Cache-Control: no-store`` on every answer of the login sub-app, errors included."""
    response.headers["Cache-Control"] = "no-store"
