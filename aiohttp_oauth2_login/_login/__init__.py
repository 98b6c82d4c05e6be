"""The login sub-app (the front channel): the chooser, login start, callback and logout routes.

Handlers translate requests; the protocol lives in ``_oauth``, the session in ``_sessions``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from .logout import LogoutViews
from .views import LoginViews

if TYPE_CHECKING:
    from .._plugin import OAuthLogin

__all__ = ["add_routes"]


def add_routes(login: OAuthLogin) -> None:
    """The five routes of docs/quickstart.md's routes table on the login sub-app (before it is
    mounted)."""
    views = LoginViews(login)
    logout = LogoutViews(login)
    router = login.login_app.router
    router.add_get("/login", views.chooser, name="login")
    router.add_get("/login/{provider}", views.start, name="login_provider")
    router.add_get("/callback/{provider}", views.callback, name="callback")
    router.add_get("/logout", logout.confirm, name="logout")
    router.add_post("/logout", logout.logout)
    router.add_get("/logout/done", logout.done, name="logout_done")
    login.login_app.middlewares.append(_no_store)
    login.login_app.middlewares.append(_guarded(login))


def _guarded(login: OAuthLogin) -> Middleware:
    """Checks the login routes' requests for a proxy or host name that ``public_url`` does not
    describe (one WARNING per process, L6); costs the app's other routes nothing."""
    guard = login.guard

    @web.middleware
    async def proxy_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        guard.check(request)
        return await handler(request)

    return proxy_guard


@web.middleware
async def _no_store(request: web.Request, handler: Handler) -> web.StreamResponse:
    """``Cache-Control: no-store`` on every answer of the login sub-app, errors included."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers["Cache-Control"] = "no-store"
        raise
    response.headers["Cache-Control"] = "no-store"
    return response
