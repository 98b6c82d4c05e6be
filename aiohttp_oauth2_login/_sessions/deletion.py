"""Cookie deletion that browsers honour for ``__Host-`` cookies (shared by both storages)."""

from __future__ import annotations

from aiohttp import web
from aiohttp_session import AbstractStorage

__all__ = ["SecureDeleteMixin"]


class SecureDeleteMixin(AbstractStorage):
    """aiohttp-session deletes cookies without ``Secure``; browsers ignore such a deletion of a
    ``__Host-``/``Secure`` cookie, so logout would silently keep the old session."""

    def save_cookie(
        self, response: web.StreamResponse, cookie_data: str, *, max_age: int | None = None
    ) -> None:
        if cookie_data:
            super().save_cookie(response, cookie_data, max_age=max_age)
            return
        self.delete_cookie(response, self.cookie_name)

    def delete_cookie(self, response: web.StreamResponse, name: str) -> None:
        response.del_cookie(
            name,
            path="/",
            secure=bool(self.cookie_params["secure"]),
            httponly=True,
            samesite="Lax",
        )
