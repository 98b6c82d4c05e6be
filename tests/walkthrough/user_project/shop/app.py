"""A small shop: anyone may browse, the account page and the GitHub-backed pages need a login."""

import logging
import os

import aiohttp
from aiohttp import web

from aiohttp_oauth2_login import get_client, get_user, login_required, setup_oauth
from aiohttp_oauth2_login.providers import GitHub

log = logging.getLogger("shop")


async def home(request):
    user = await get_user(request)
    return web.json_response({"shop": "open", "signed_in_as": user.username if user else None})


@login_required
async def account(request):
    user = await get_user(request)
    return web.json_response({"id": user.id, "login": user.username, "email": user.email})


@login_required
async def github_profile(request):
    """The visitor's GitHub profile, through the GitHub API as them."""
    client = await get_client(request)
    try:
        async with client.get("/user") as resp:
            resp.raise_for_status()
            profile = await resp.json()
    except (aiohttp.ClientError, ValueError) as exc:
        log.warning("GitHub API call failed: %s", type(exc).__name__)
        return web.json_response({"error": "GitHub is unavailable"}, status=502)
    if not isinstance(profile, dict):
        return web.json_response({"error": "GitHub answered something odd"}, status=502)
    return web.json_response({"login": profile.get("login"), "name": profile.get("name")})


def create_app(providers=None, **options):
    """The app; tests pass their own providers (and options), production reads the env."""
    app = web.Application()
    app.router.add_get("/", home)
    app.router.add_get("/account", account)
    app.router.add_get("/github", github_profile)
    if providers is None:
        providers = [GitHub.from_env()]
        options.setdefault("secret_key", os.environ["SHOP_SECRET_KEY"])
        options.setdefault("public_url", os.environ["SHOP_PUBLIC_URL"])
    setup_oauth(app, providers=providers, **options)
    return app


if __name__ == "__main__":
    web.run_app(create_app())
