"""Every ``web.AppKey`` and request key of the package, in one place (re-exported from where
each is defined, next to the type it holds)."""

from __future__ import annotations

from ._plugin import APP_KEY, LOGIN_APP_KEY
from ._sessions.schema import AUTH_KEY

__all__ = ["APP_KEY", "AUTH_KEY", "LOGIN_APP_KEY"]
