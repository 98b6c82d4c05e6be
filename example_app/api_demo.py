"""Something real from each provider's API, fetched with ``get_client`` as the signed-in user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from aiohttp_oauth2_login import LoginFlowError, get_client

__all__ = ["ApiDemo", "fetch_api_demo"]

#: per provider name: (what is shown, the API path relative to the provider's API base)
_CALLS = {
    "github": ("Your most recently updated repositories", "/user/repos?per_page=10&sort=updated"),
    "google": ("Your Google profile (userinfo)", "/oauth2/v3/userinfo"),
    "facebook": ("Your Facebook profile (Graph /me)", "/me?fields=id,name"),
}
_USERINFO = "Your profile from the provider's userinfo endpoint"


@dataclass(frozen=True, slots=True)
class ApiDemo:
    """What the profile page shows under "From the provider's API"."""

    title: str
    url: str
    status: int | None
    items: list[str]


def _items(body: Any) -> list[str]:
    if isinstance(body, list):  # GitHub repositories
        return [str(r.get("full_name", "?")) for r in body[:10] if isinstance(r, dict)]
    if isinstance(body, dict):
        return [f"{k}: {v}" for k, v in sorted(body.items()) if isinstance(v, str | int | bool)]
    return []


async def fetch_api_demo(request: web.Request, provider: str) -> ApiDemo:
    """Call the provider's API as the user; tokens are refreshed by the client when needed."""
    client = await get_client(request)
    if provider in _CALLS:
        title, path = _CALLS[provider]
    else:  # a generic OpenID Connect provider: its discovered userinfo endpoint
        title, path = _USERINFO, client.endpoints.userinfo_url or "userinfo"
    url = str(client.resolve(path))
    try:
        async with client.get(path) as resp:
            body = await resp.json(content_type=None) if resp.status == 200 else None
            return ApiDemo(title, url, resp.status, _items(body))
    except (aiohttp.ClientError, TimeoutError, LoginFlowError, ValueError):
        return ApiDemo(title, url, None, [])
