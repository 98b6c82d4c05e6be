"""``aiohttp_oauth2_login.testing.chaos``: a sound app passes, and each deliberately broken app is
caught with the route, the failure mode and the invariant it breaks."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp_session
import pytest
from aiohttp import web

from aiohttp_oauth2_login import get_client, get_user, login_required, setup_oauth
from aiohttp_oauth2_login.testing import FakeProvider, oidc_provider_for, preset_for
from aiohttp_oauth2_login.testing.chaos import (
    INVARIANTS,
    ChaosReport,
    ChaosRunner,
    failure_modes_of,
    protected_routes,
    run_chaos,
)

from ..support.app import KEY, Client

app_log = logging.getLogger("sample_app")


@login_required
async def profile(request: web.Request) -> web.Response:
    user = await get_user(request)
    assert user is not None
    return web.json_response({"name": user.name})


@login_required
async def me(request: web.Request) -> web.Response:
    """Calls the provider's API as the user and handles its failures."""
    client = await get_client(request)
    async with client.get(client.endpoints.userinfo_url or "/userinfo") as resp:
        if resp.status != 200:
            return web.json_response({"error": "the provider is unavailable"}, status=502)
        try:
            claims = await resp.json(content_type=None)  # any content type: parse, or 502
        except ValueError:
            return web.json_response({"error": "the provider answered nonsense"}, status=502)
    return web.json_response({"sub": claims.get("sub") if isinstance(claims, dict) else None})


@login_required
class Items(web.View):
    async def get(self) -> web.Response:
        return web.json_response({"item": self.request.match_info["item"]})


async def public(request: web.Request) -> web.Response:
    return web.json_response({"public": True})


# ---- deliberately broken handlers -------------------------------------------------------------


@login_required
async def me_raise_for_status(request: web.Request) -> web.Response:
    """Lets the provider's errors through: ``raise_for_status`` becomes a 500."""
    client = await get_client(request)
    async with client.get(client.endpoints.userinfo_url or "/userinfo") as resp:
        resp.raise_for_status()
        return web.json_response(await resp.json())


@login_required
async def token_for_spa(request: web.Request) -> web.Response:
    """Hands the access token to the browser "for the single-page app"."""
    client = await get_client(request)
    return web.json_response({"token": client.token.access_token})


@login_required
async def debug_logging(request: web.Request) -> web.Response:
    """Logs the bearer token while debugging a provider call."""
    client = await get_client(request)
    app_log.debug("calling the API with Bearer %s", client.token.access_token)
    return web.json_response({"ok": True})


class SessionPerAddress(aiohttp_session.AbstractStorage):
    """Server-side sessions keyed by the client's address "so a lost cookie keeps the login":
    every browser behind one address shares one session."""

    def __init__(self) -> None:
        super().__init__(cookie_name="sid", httponly=True, samesite="Lax")
        self.sessions: dict[str, dict[str, Any]] = {}

    async def load_session(self, request: web.Request) -> aiohttp_session.Session:
        data = self.sessions.get(request.remote or "")
        return aiohttp_session.Session(
            request.remote, data={"session": dict(data)} if data else None, new=data is None
        )

    async def save_session(
        self, request: web.Request, response: web.StreamResponse, session: aiohttp_session.Session
    ) -> None:
        self.sessions[request.remote or ""] = dict(session)


def make_app(fake: FakeProvider, *handlers: tuple[str, Any], **options: Any) -> web.Application:
    app = web.Application()
    app.router.add_get("/", public)
    app.router.add_get("/profile", profile)
    for path, handler in handlers:
        app.router.add_get(path, handler)
    options.setdefault("secret_key", KEY)
    setup_oauth(app, providers=[oidc_provider_for(fake)], **options)
    return app


async def chaos(aiohttp_client: Any, app: web.Application, fake: FakeProvider, **kw: Any) -> Any:
    client: Client = await aiohttp_client(app)
    return await run_chaos(client, fake, **kw)


def broken(report: ChaosReport, invariant: str) -> list[tuple[str, str]]:
    """(route, mode) of every failure of ``invariant``."""
    assert invariant in INVARIANTS
    return [(f.route, f.mode) for f in report.failures if f.invariant == invariant]


async def test_a_sound_app_passes_every_mode(aiohttp_client: Any, fake: FakeProvider) -> None:
    app = make_app(fake, ("/me", me))
    app.router.add_view("/items/{item}", Items)
    report = await chaos(aiohttp_client, app, fake, path_params={"item": "7"})
    assert report.ok, str(report)
    assert report.routes == ["GET /profile", "GET /me", "GET /items/7"]
    assert report.modes == sorted(failure_modes_of(fake)) and len(report.modes) > 30
    assert report.requests > 10 * len(report.modes)
    assert fake.failures == set()  # left as found


async def test_the_fixture_raises_with_the_report(aiohttp_client: Any, fake: FakeProvider) -> None:
    client = await aiohttp_client(make_app(fake, ("/spa", token_for_spa)))
    runner = ChaosRunner(modes=["userinfo_500"])
    with pytest.raises(AssertionError) as caught:
        await runner(client, fake)
    message = str(caught.value)
    assert "GET /spa [mode none]: no-secret-leak: an access token in the body of GET /spa" in (
        message
    )
    assert runner.reports[0].failures


async def test_a_500_on_provider_errors_is_caught(aiohttp_client: Any, fake: FakeProvider) -> None:
    app = make_app(fake, ("/repos", me_raise_for_status))
    report = await chaos(aiohttp_client, app, fake, modes=["userinfo_500", "userinfo_html"])
    assert ("GET /repos", "userinfo_500") in broken(report, "no-500")
    # aiohttp logs the unhandled ClientResponseError with its traceback
    assert ("GET /repos", "userinfo_500") in broken(report, "no-unhandled-exception")
    assert all(route == "GET /repos" for route, _ in broken(report, "no-500"))
    assert "GET /repos [mode userinfo_500]: no-500: GET /repos answered 500" in str(report)


async def test_a_token_in_a_page_is_caught(aiohttp_client: Any, fake: FakeProvider) -> None:
    report = await chaos(aiohttp_client, make_app(fake, ("/spa", token_for_spa)), fake, modes=[])
    assert ("GET /spa", "none") in broken(report, "no-secret-leak")
    leaks = [f.detail for f in report.failures]
    assert "an access token in the body of GET /spa" in leaks
    assert not any(fake.client_secret in str(f) for f in report.failures)  # never quoted


async def test_a_token_in_a_log_record_is_caught(aiohttp_client: Any, fake: FakeProvider) -> None:
    logging.getLogger("sample_app").setLevel(logging.NOTSET)
    report = await chaos(aiohttp_client, make_app(fake, ("/dbg", debug_logging)), fake, modes=[])
    details = {f.detail for f in report.failures if f.route == "GET /dbg"}
    assert "an access token in a log record of 'sample_app' (DEBUG)" in details


async def test_log_levels_are_restored(aiohttp_client: Any, fake: FakeProvider) -> None:
    root = logging.getLogger()
    before, handlers = root.level, list(root.handlers)
    await chaos(aiohttp_client, make_app(fake), fake, modes=["deny"])
    assert (root.level, root.handlers) == (before, handlers)


async def test_a_session_shared_between_browsers_is_caught(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    app = make_app(fake, storage=SessionPerAddress())
    report = await chaos(aiohttp_client, app, fake, modes=["deny", "token_500"])
    failed = broken(report, "signed-out-after-failed-login")
    assert ("login", "deny") in failed and ("login", "token_500") in failed
    assert any("GET /profile answered 200" in f.detail for f in report.failures)


async def test_oversized_cookies_are_caught(aiohttp_client: Any, fake: FakeProvider) -> None:
    @login_required
    async def remember(request: web.Request) -> web.Response:
        response = web.json_response({"ok": True})
        response.set_cookie("prefs", "x" * 5000)
        return response

    report = await chaos(aiohttp_client, make_app(fake, ("/prefs", remember)), fake, modes=[])
    assert ("GET /prefs", "none") in broken(report, "cookie-size")


async def test_hanging_modes_use_the_short_timeout(aiohttp_client: Any, fake: FakeProvider) -> None:
    app = make_app(fake, ("/me", me), http_timeout=60)
    report = await chaos(aiohttp_client, app, fake, modes=["token_timeout", "revoke_timeout"])
    assert report.ok, str(report)  # a hang of 60 s would have ended the test by its timeout
    assert fake.calls["token"] > 0 and fake.calls["revoke"] > 0


async def test_routes_found_in_sub_apps_and_views(fake: FakeProvider) -> None:
    root = make_app(fake)
    api = web.Application()
    api.router.add_get("/me", me)
    api.router.add_get("/open", public)
    api.router.add_view("/items/{item}", Items)
    root.add_subapp("/api", api)
    found, missing = protected_routes(root)
    assert found == [("GET", "/profile"), ("GET", "/api/me")]
    assert missing == ["GET /api/items/{item}: no path_params for ['item']"]
    assert protected_routes(root, {"item": "a b"})[0][-1] == ("GET", "/api/items/a%20b")


async def test_routes_can_be_given(aiohttp_client: Any, fake: FakeProvider) -> None:
    app = make_app(fake, ("/spa", token_for_spa))
    report = await chaos(aiohttp_client, app, fake, routes=["/profile"], modes=[])
    assert report.routes == ["GET /profile"] and report.ok
    app = make_app(fake, ("/spa", token_for_spa))
    report = await chaos(aiohttp_client, app, fake, routes=[], extra_routes=["GET /"], modes=[])
    assert report.routes == ["GET /"]


async def test_bad_arguments_are_named(aiohttp_client: Any, fake: FakeProvider) -> None:
    client = await aiohttp_client(make_app(fake))
    with pytest.raises(ValueError, match="unknown failure mode"):
        await run_chaos(client, fake, modes=["nope"])


async def test_the_fixture_with_a_github_app(
    aiohttp_client: Any, fake_github: FakeProvider, oauth_chaos: ChaosRunner
) -> None:
    """The pytest plugin offers the fixture; the GitHub personality's modes are the ones run."""
    app = web.Application()
    app.router.add_get("/profile", profile)
    setup_oauth(app, providers=[preset_for(fake_github)], secret_key=KEY)
    client = await aiohttp_client(app)
    report = await oauth_chaos(client, fake_github)
    assert report.provider == "github" and report.routes == ["GET /profile"]
    assert report.modes == sorted(failure_modes_of(fake_github))
    assert "token_500" in report.modes and "id_token_wrong_aud" not in report.modes
