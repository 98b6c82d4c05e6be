"""The request-scoped authenticated client: bearer only to the API origin, refresh, write-back."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from aiohttp_oauth2_login import (
    ReauthenticationRequired,
    TokenSet,
    UnknownProvider,
    get_client,
    login_required,
)
from aiohttp_oauth2_login.testing import (
    FakeProvider,
    find_login,
    login_as,
    login_flow,
    oidc_provider_for,
)

from ..support.app import COOKIE, JSON, Client, build_app, call_api
from ..support.session import (
    expire_in_session,
    oauth_session,
    session_cookie,
    with_expired_token,
)


@login_required
async def api_burst(request: web.Request) -> web.Response:
    client = await get_client(request)

    async def one() -> int:
        async with client.get("/api/me") as resp:
            return resp.status

    statuses = await asyncio.gather(*(one() for _ in range(10)))
    return web.json_response({"statuses": statuses})


@login_required
async def foreign(request: web.Request) -> web.Response:
    client = await get_client(request)
    try:
        client.get("https://evil.example/steal")
    except ValueError as exc:
        return web.json_response({"refused": str(exc)})
    return web.json_response({"refused": None})


@pytest.fixture
async def api_client(aiohttp_client: Any, fake: FakeProvider) -> Client:
    app = build_app([oidc_provider_for(fake)])
    app.router.add_get("/call", call_api)
    app.router.add_get("/burst", api_burst)
    app.router.add_get("/foreign", foreign)
    client: Client = await aiohttp_client(app)
    assert (await login_flow(client)).status == 303
    return client


async def test_calls_the_api_as_the_user(api_client: Client, fake: FakeProvider) -> None:
    resp = await api_client.get("/call", headers=JSON)
    data = await resp.json()
    assert data["status"] == 200
    assert data["body"]["sub"] == "alice"
    assert fake.calls["api"] == 1
    assert fake.calls["refresh"] == 0


async def test_absolute_urls_on_other_origins_are_refused(api_client: Client) -> None:
    data = await (await api_client.get("/foreign", headers=JSON)).json()
    assert data["refused"] is not None and "evil.example" in data["refused"]


async def test_expired_token_is_refreshed_once_for_ten_racing_requests(
    api_client: Client, fake: FakeProvider
) -> None:
    fake.expire_access_tokens()
    resp = await api_client.get("/burst", headers=JSON)
    assert (await resp.json())["statuses"] == [200] * 10
    assert fake.calls["refresh"] == 1
    # the refreshed tokens were written back: the next request needs no refresh
    resp = await api_client.get("/call", headers=JSON)
    assert (await resp.json())["status"] == 200
    assert fake.calls["refresh"] == 1


async def test_a_401_triggers_one_refresh_and_a_retry(
    api_client: Client, fake: FakeProvider
) -> None:
    fake.expire_access_tokens()  # revoked early at the provider; the session thinks it is valid
    data = await (await api_client.get("/call", headers=JSON)).json()
    assert data["status"] == 200
    assert fake.calls["refresh"] == 1
    assert fake.calls["api"] == 2  # the refused call and its retry


async def test_refused_refresh_asks_for_login_again(api_client: Client, fake: FakeProvider) -> None:
    fake.expire_access_tokens()
    fake.fail("refresh_error")
    resp = await api_client.get("/call", headers=JSON)
    assert resp.status == 401
    assert (await resp.json())["error"] == "login_required"
    resp = await api_client.get("/private", headers=JSON)  # the session was cleared
    assert resp.status == 401


async def test_reauthentication_required_without_login(
    aiohttp_client: Any, fake: FakeProvider
) -> None:
    app = build_app([oidc_provider_for(fake)])

    async def handler(request: web.Request) -> web.Response:
        try:
            await get_client(request)
        except ReauthenticationRequired:
            return web.Response(text="reauth")
        return web.Response(text="client")

    app.router.add_get("/x", handler)
    client = await aiohttp_client(app)
    assert await (await client.get("/x")).text() == "reauth"


# ---- helpers for the tests below ----------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Server:
    """A small aiohttp server that records what reaches it."""

    server: TestServer
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))


@pytest.fixture
async def recorder(aiohttp_server: Any) -> Server:
    """Another origin (127.0.0.1, another port): the token must never arrive here."""
    seen: list[tuple[str, str, str | None]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, request.headers.get("Authorization")))
        return web.json_response({"recorded": True})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    return Server(await aiohttp_server(app), seen)


@pytest.fixture
async def api_server(aiohttp_server: Any, recorder: Server) -> Server:
    """A provider API of our own (for api_base_url): echoes, and redirects elsewhere."""
    seen: list[tuple[str, str, str | None]] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, request.headers.get("Authorization")))
        body = await request.text()
        return web.json_response(
            {"method": request.method, "auth": request.headers.get("Authorization"), "body": body}
        )

    async def bounce(request: web.Request) -> web.Response:
        seen.append((request.method, request.path, request.headers.get("Authorization")))
        status = int(request.query.get("status", "302"))
        target = request.query.get("to", recorder.url("/sink"))
        return web.Response(status=status, headers={"Location": target})

    app = web.Application()
    app.router.add_route("*", "/v1/echo", echo)
    app.router.add_route("*", "/v1/bounce", bounce)
    return Server(await aiohttp_server(app), seen)


@pytest.fixture
def make_api_client(aiohttp_client: Any, fake: FakeProvider) -> Callable[..., Awaitable[Client]]:
    """``await make_api_client({path: handler}, providers=..., login=True, **options)``."""

    async def make(
        routes: dict[str, Handler],
        *,
        providers: list[Any] | None = None,
        login: bool = True,
        **options: Any,
    ) -> Client:
        app = build_app(providers or [oidc_provider_for(fake)], **options)
        for path, handler in routes.items():
            app.router.add_route("*", path, handler)
        client: Client = await aiohttp_client(app)
        if login:
            assert (await login_flow(client)).status == 303
        return client

    return make


MakeApiClient = Callable[..., Awaitable[Client]]


# ---- URLs: relative paths on the API base, other origins refused (G22) ---------------


async def test_relative_urls_resolve_against_the_issuer(
    make_api_client: MakeApiClient, fake: FakeProvider
) -> None:
    @login_required
    async def handler(request: web.Request) -> web.Response:
        client = await get_client(request)
        resolved = [str(client.resolve(u)) for u in ("api/me", "/api/me", "api/me?x=1")]
        statuses = []
        for url in ("api/me", "/api/me"):
            async with client.get(url) as resp:
                statuses.append((resp.status, (await resp.json())["sub"]))
        return web.json_response(
            {"base": str(client.base_url), "resolved": resolved, "statuses": statuses}
        )

    client = await make_api_client({"/r": handler})
    data = await (await client.get("/r", headers=JSON)).json()
    assert data["base"] == f"{fake.issuer}/"
    assert data["resolved"] == [f"{fake.issuer}/api/me"] * 2 + [f"{fake.issuer}/api/me?x=1"]
    assert data["statuses"] == [[200, "alice"], [200, "alice"]]
    assert fake.calls["api"] == 2


async def test_absolute_url_on_the_api_origin_is_allowed(
    make_api_client: MakeApiClient, fake: FakeProvider
) -> None:
    @login_required
    async def handler(request: web.Request) -> web.Response:
        client = await get_client(request)
        async with client.get(f"{fake.issuer}/api/me") as resp:
            return web.json_response({"status": resp.status, "body": await resp.json()})

    client = await make_api_client({"/abs": handler})
    data = await (await client.get("/abs", headers=JSON)).json()
    assert data["status"] == 200
    assert data["body"]["sub"] == "alice"


async def test_other_origins_are_refused_and_never_see_the_token(
    make_api_client: MakeApiClient, fake: FakeProvider, recorder: Server
) -> None:
    port = URL(fake.issuer).port
    other_port = recorder.server.port
    foreign = [
        recorder.url("/steal"),  # same host, another port: another origin
        f"http://localhost:{port}/api/me",  # same server, another host name
        f"https://127.0.0.1:{port}/api/me",  # another scheme
        f"//127.0.0.1:{other_port}/steal",  # scheme-relative
        "https://evil.example/steal",
    ]

    @login_required
    async def handler(request: web.Request) -> web.Response:
        client = await get_client(request)
        outcome: dict[str, str] = {}
        for url in foreign:
            for method in ("GET", "POST"):
                try:
                    async with client.request(method, url) as resp:
                        outcome[f"{method} {url}"] = f"sent: {resp.status}"
                except ValueError:
                    outcome[f"{method} {url}"] = "refused"
            try:
                resp = await client.get(url)
                resp.release()
                outcome[f"await {url}"] = "sent"
            except ValueError:
                outcome[f"await {url}"] = "refused"
        return web.json_response(outcome)

    client = await make_api_client({"/foreign": handler})
    resp = await client.get("/foreign", headers=JSON)
    assert resp.status == 200
    outcome = await resp.json()
    assert len(outcome) == 3 * len(foreign)
    assert set(outcome.values()) == {"refused"}, outcome
    assert recorder.seen == []
    assert fake.calls["api"] == 0


async def test_a_redirect_to_another_origin_does_not_carry_the_bearer(
    make_api_client: MakeApiClient,
    fake: FakeProvider,
    api_server: Server,
    recorder: Server,
) -> None:
    @login_required
    async def handler(request: web.Request) -> web.Response:
        client = await get_client(request)
        results = []
        for status in (302, 307):
            async with client.get("bounce", params={"status": str(status)}) as resp:
                results.append([resp.status, str(resp.url)])
        return web.json_response(results)

    provider = oidc_provider_for(fake, api_base_url=api_server.url("/v1/"))
    client = await make_api_client({"/bounce": handler}, providers=[provider])
    bearer = f"Bearer {oauth_session(client)['t']['fake']['a']}"
    resp = await client.get("/bounce", headers=JSON)
    assert resp.status == 200
    assert await resp.json() == [[200, recorder.url("/sink")]] * 2
    assert api_server.seen == [("GET", "/v1/bounce", bearer)] * 2  # the API got the token
    assert recorder.seen == [("GET", "/sink", None)] * 2  # the other origin did not


async def test_a_redirect_within_the_api_origin_keeps_the_bearer(
    make_api_client: MakeApiClient, fake: FakeProvider, api_server: Server
) -> None:
    @login_required
    async def handler(request: web.Request) -> web.Response:
        client = await get_client(request)
        async with client.get("bounce", params={"to": "/v1/echo"}) as resp:
            return web.json_response(await resp.json())

    provider = oidc_provider_for(fake, api_base_url=api_server.url("/v1/"))
    client = await make_api_client({"/x": handler}, providers=[provider])
    bearer = f"Bearer {oauth_session(client)['t']['fake']['a']}"
    data = await (await client.get("/x", headers=JSON)).json()
    assert data["auth"] == bearer
    assert [path for _, path, _ in api_server.seen] == ["/v1/bounce", "/v1/echo"]


# ---- the ClientSession-like surface -------------------------------------------------------------


async def test_every_http_method_sends_the_bearer(
    make_api_client: MakeApiClient, fake: FakeProvider, api_server: Server
) -> None:
    @login_required
    async def handler(request: web.Request) -> web.Response:
        client = await get_client(request)
        calls = [
            client.get("echo"),
            client.post("echo", json={"a": 1}),
            client.put("echo", data=b"put-body"),
            client.patch("/echo", json={"b": 2}),
            client.delete("echo"),
            client.request("OPTIONS", "echo"),
        ]
        results = []
        for call in calls:
            async with call as resp:
                results.append(await resp.json())
        return web.json_response(results)

    provider = oidc_provider_for(fake, api_base_url=api_server.url("/v1/"))
    client = await make_api_client({"/methods": handler}, providers=[provider])
    bearer = f"Bearer {oauth_session(client)['t']['fake']['a']}"
    results = await (await client.get("/methods", headers=JSON)).json()
    assert [r["method"] for r in results] == ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    assert {r["auth"] for r in results} == {bearer}
    assert [r["body"] for r in results[1:4]] == ['{"a": 1}', "put-body", '{"b": 2}']


async def test_await_without_async_with_returns_a_client_response(
    make_api_client: MakeApiClient,
) -> None:
    @login_required
    async def handler(request: web.Request) -> web.Response:
        client = await get_client(request)
        resp = await client.get("api/me")
        try:
            kind = type(resp).__name__
            assert isinstance(resp, aiohttp.ClientResponse)
            return web.json_response({"kind": kind, "sub": (await resp.json())["sub"]})
        finally:
            resp.release()

    client = await make_api_client({"/await": handler})
    data = await (await client.get("/await", headers=JSON)).json()
    assert data == {"kind": "ClientResponse", "sub": "alice"}


async def test_the_client_refuses_its_own_middlewares(make_api_client: MakeApiClient) -> None:
    @login_required
    async def handler(request: web.Request) -> web.Response:
        client = await get_client(request)
        try:
            client.get("api/me", middlewares=())
        except TypeError:
            return web.Response(text="refused")
        return web.Response(text="accepted")

    client = await make_api_client({"/mw": handler})
    assert await (await client.get("/mw")).text() == "refused"


async def test_all_calls_share_the_plugins_one_client_session(
    make_api_client: MakeApiClient, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    @login_required
    async def handler(request: web.Request) -> web.Response:
        statuses = []
        for _ in range(10):  # a new client per call, sequential ...
            async with (await get_client(request)).get("api/me") as resp:
                statuses.append(resp.status)
        client = await get_client(request)

        async def one() -> int:
            async with client.get("/api/me") as resp:
                return resp.status

        statuses += await asyncio.gather(*(one() for _ in range(10)))  # ... and concurrent
        return web.json_response(statuses)

    client = await make_api_client({"/twenty": handler})
    plugin_http = find_login(client.app).http
    constructed: list[object] = []
    used: list[tuple[object, str]] = []
    original_init = aiohttp.ClientSession.__init__
    original_request = aiohttp.ClientSession.request

    def counting_init(self: aiohttp.ClientSession, *args: Any, **kwargs: Any) -> None:
        constructed.append(self)
        original_init(self, *args, **kwargs)

    def recording_request(self: aiohttp.ClientSession, method: str, url: Any, **kw: Any) -> Any:
        used.append((self, URL(str(url)).path))
        return original_request(self, method, url, **kw)

    monkeypatch.setattr(aiohttp.ClientSession, "__init__", counting_init)
    monkeypatch.setattr(aiohttp.ClientSession, "request", recording_request)
    resp = await client.get("/twenty", headers=JSON)
    assert await resp.json() == [200] * 20
    assert constructed == []
    api_calls = [session for session, path in used if path == "/api/me"]
    assert len(api_calls) == 20
    assert all(session is plugin_http for session in api_calls)
    assert fake.calls["api"] == 20


# ---- get_client errors ---------------------------------------------------------------------------


async def test_get_client_for_an_unknown_provider(make_api_client: MakeApiClient) -> None:
    async def handler(request: web.Request) -> web.Response:
        try:
            await get_client(request, provider="unknown")
        except UnknownProvider as exc:
            return web.json_response({"error": type(exc).__name__, "status": exc.status})
        return web.json_response({"error": None})

    client = await make_api_client({"/unknown": handler})
    data = await (await client.get("/unknown")).json()
    assert data == {"error": "UnknownProvider", "status": 404}


async def test_get_client_for_a_provider_the_user_did_not_sign_in_with(
    make_api_client: MakeApiClient, fake: FakeProvider, fake_provider_factory: Any
) -> None:
    other = await fake_provider_factory(auto_approve=True)

    async def handler(request: web.Request) -> web.Response:
        try:
            await get_client(request, provider="other")
        except ReauthenticationRequired:
            return web.Response(text="reauth")
        return web.Response(text="client")

    providers = [oidc_provider_for(fake), oidc_provider_for(other, name="other")]
    client = await make_api_client({"/other": handler}, providers=providers)
    assert await (await client.get("/other")).text() == "reauth"
    assert other.calls["refresh"] == 0


# ---- refresh: single flight across requests, write-back, failures -------------------------------


@pytest.mark.parametrize("where", ["provider", "session"])
async def test_ten_concurrent_http_requests_share_one_refresh(
    make_api_client: MakeApiClient, fake: FakeProvider, where: str
) -> None:
    """Ten requests of one browser with the same (old) cookie: one refresh, all succeed, and the
    rotated-away refresh token is never presented again (that would revoke the grant)."""
    client = await make_api_client({"/call": call_api})
    before = oauth_session(client)["t"]["fake"]
    if where == "provider":
        fake.expire_access_tokens()  # the API answers 401: refresh after the 401
        old_cookie = session_cookie(client)
    else:
        old_cookie = with_expired_token(client)  # the session knows: refresh before the call
    url = client.make_url("/call")
    headers = {**JSON, "Cookie": f"{COOKIE}={old_cookie}"}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as browser:

        async def one() -> tuple[int, dict[str, Any], str]:
            async with browser.get(url, headers=headers) as resp:
                return resp.status, await resp.json(), resp.cookies[COOKIE].value

        results = await asyncio.gather(*(one() for _ in range(10)))
        assert [status for status, _, _ in results] == [200] * 10
        assert [body["status"] for _, body, _ in results] == [200] * 10
        assert fake.calls["refresh"] == 1
        active = fake.active_refresh_tokens()
        assert len(active) == 1  # the grant was not revoked
        assert before["r"] not in active  # rotated
        stored = [oauth_session(client, cookie)["t"]["fake"] for _, _, cookie in results]
        assert {t["r"] for t in stored} == active  # every answer carries the new tokens
        assert len({t["a"] for t in stored}) == 1 and stored[0]["a"] != before["a"]

        # a straggler with the old cookie, a moment later: the remembered result, no refresh
        async with browser.get(url, headers=headers) as resp:
            assert resp.status == 200
            assert (await resp.json())["status"] == 200
        assert fake.calls["refresh"] == 1
        assert fake.active_refresh_tokens() == active

        # the new cookie needs no refresh at all
        new_headers = {**JSON, "Cookie": f"{COOKIE}={results[0][2]}"}
        async with browser.get(url, headers=new_headers) as resp:
            assert (await resp.json())["status"] == 200
    assert fake.calls["refresh"] == 1


async def test_refreshed_tokens_are_written_back_to_the_cookie(
    make_api_client: MakeApiClient, fake: FakeProvider
) -> None:
    client = await make_api_client({"/call": call_api})
    before = oauth_session(client)["t"]["fake"]
    expire_in_session(client)
    resp = await client.get("/call", headers=JSON)
    assert (await resp.json())["status"] == 200
    assert fake.calls["refresh"] == 1
    assert COOKIE in resp.cookies  # the refreshing response saves the session
    after = oauth_session(client, resp.cookies[COOKIE].value)
    assert after["u"]["i"] == "alice"
    tokens = after["t"]["fake"]
    assert tokens["a"] != before["a"]
    assert tokens["r"] != before["r"] and tokens["r"] in fake.active_refresh_tokens()
    assert tokens["x"] > time.time() + 60
    for _ in range(3):
        assert (await (await client.get("/call", headers=JSON)).json())["status"] == 200
    assert fake.calls["refresh"] == 1


@pytest.mark.parametrize("where", ["provider", "session"])
async def test_refused_refresh_api_request_gets_401_json(
    make_api_client: MakeApiClient, fake: FakeProvider, where: str
) -> None:
    client = await make_api_client({"/call": call_api})
    if where == "provider":
        fake.expire_access_tokens()
    else:
        expire_in_session(client)
    fake.fail("refresh_error")
    resp = await client.get("/call", headers=JSON)
    assert resp.status == 401
    assert resp.content_type == "application/json"
    data = await resp.json()
    assert data["error"] == "login_required"
    assert data["login_url"] == "/auth/login/fake?next=/call"
    assert resp.cookies[COOKIE].value == ""  # the session (and its tokens) are gone
    assert fake.calls["refresh"] == 1
    assert (await client.get("/private", headers=JSON)).status == 401


async def test_refused_refresh_browser_navigation_is_sent_to_the_login(
    make_api_client: MakeApiClient, fake: FakeProvider
) -> None:
    client = await make_api_client({"/call": call_api})
    expire_in_session(client)
    fake.fail("refresh_error")
    resp = await client.get(
        "/call?x=1", headers={"Accept": "text/html,*/*;q=0.8"}, allow_redirects=False
    )
    assert resp.status == 302
    location = URL(resp.headers["Location"])
    assert location.path == "/auth/login/fake"
    assert URL(resp.headers["Location"]).query["next"] == "/call?x=1"
    assert resp.cookies[COOKIE].value == ""
    assert (await (await client.get("/")).json())["user"] is None


async def test_refused_refresh_drops_the_tokens_from_the_session(
    make_api_client: MakeApiClient, fake: FakeProvider
) -> None:
    """Without ``@login_required`` the user stays signed in, but the dead tokens are gone."""

    async def handler(request: web.Request) -> web.Response:
        try:
            client = await get_client(request)
            async with client.get("api/me") as resp:
                return web.Response(text=f"status {resp.status}")
        except ReauthenticationRequired:
            return web.Response(text="reauth")

    client = await make_api_client({"/soft": handler})
    expire_in_session(client)
    fake.fail("refresh_error")
    resp = await client.get("/soft")
    assert await resp.text() == "reauth"
    oauth = oauth_session(client, resp.cookies[COOKIE].value)
    assert oauth["u"]["i"] == "alice"
    assert "fake" not in oauth.get("t", {})
    fake.reset()
    assert await (await client.get("/soft")).text() == "reauth"  # nothing left to refresh with
    assert fake.calls["refresh"] == 0


async def test_an_expired_token_without_refresh_token_needs_a_new_login(
    make_api_client: MakeApiClient, fake: FakeProvider
) -> None:
    client = await make_api_client({"/call": call_api}, login=False)
    expired = TokenSet(access_token="no-refresh", expires_at=int(time.time()) - 10)
    await login_as(client, "alice", token=expired)
    resp = await client.get("/call", headers=JSON)
    assert resp.status == 401
    assert (await resp.json())["error"] == "login_required"
    assert fake.calls["refresh"] == 0
    assert fake.calls["token"] == 0
    assert fake.calls["api"] == 0


@pytest.mark.parametrize(("mode", "status"), [("token_timeout", 504), ("token_500", 502)])
async def test_a_failing_provider_during_refresh_gives_a_bounded_clear_error(
    make_api_client: MakeApiClient, fake: FakeProvider, mode: str, status: int
) -> None:
    client = await make_api_client({"/call": call_api}, http_timeout=0.5)
    expire_in_session(client)
    fake.fail(mode)
    started = time.monotonic()
    failed = await client.get("/call", headers=JSON)
    elapsed = time.monotonic() - started
    failed_status, failed_body = failed.status, await failed.text()
    assert elapsed < 5  # bounded by http_timeout, not a hang
    assert fake.calls["refresh"] == 1
    # a transient failure is not remembered and keeps the session: the next request refreshes
    fake.reset()
    resp = await client.get("/call", headers=JSON)
    assert (await resp.json())["status"] == 200
    assert fake.calls["refresh"] == 1
    # a demanding client expects the gateway status of the error, not a 500
    assert failed_status == status
    assert json.loads(failed_body)["error"] == "temporarily_unavailable"
