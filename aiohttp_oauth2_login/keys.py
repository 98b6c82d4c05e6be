"""Every ``web.AppKey`` and request key of the package, in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from aiohttp import web

if TYPE_CHECKING:
    from ._setup import OAuthLogin  # noqa: F401 - named in the AppKey subscripts below

__all__ = ["APP_KEY", "AUTH_KEY", "LOGIN_APP_KEY"]

#: The ``OAuthLogin`` handle, on the app ``setup_oauth`` was called on (found via config_dict).
APP_KEY: Final = web.AppKey["OAuthLogin"]("aiohttp_oauth2_login")
#: The same handle on the login sub-application itself.
LOGIN_APP_KEY: Final = web.AppKey["OAuthLogin"]("aiohttp_oauth2_login.login_app")

#: The visitor's parsed session state, cached on the request: a ``web.RequestKey`` where aiohttp
#: has them (from 3.14 plain string request keys warn), a string before.
AUTH_KEY: Final[Any] = (
    web.RequestKey[object]("aiohttp_oauth2_login.auth")
    if hasattr(web, "RequestKey")
    else "aiohttp_oauth2_login.auth"
)
