"""Response hygiene (G20; README, Routes): headers and pages of every plugin answer.

- ``Cache-Control: no-store`` on every answer of the plugin: every route, success and error,
  302/303/4xx/5xx, a 404 or 405 inside the login prefix, and the login redirects and refusals of
  protected handlers;
- ``Referrer-Policy: no-referrer`` on every answer of the callback (it holds code and state);
- ``X-Frame-Options: DENY`` and CSP ``frame-ancestors 'none'`` on every HTML page;
- no external resource in any page: no script, no URL attribute naming another origin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from aiohttp_oauth2_login import TokenSet, User, login_required
from aiohttp_oauth2_login.testing import FakeProvider, login_as, login_flow, oidc_provider_for

from ..support.app import HTML, JSON, Client, MakeClient, build_app, origin_of
from ..support.html import PageTags

Request = Callable[[Client, FakeProvider], Awaitable[aiohttp.ClientResponse]]


async def _callback(
    client: Client, *, state: str | None = None, headers: dict[str, str] | None = None
) -> aiohttp.ClientResponse:
    """A login through the fake provider up to its redirect, then the callback (state swapped)."""
    start = await client.get("/auth/login/fake", allow_redirects=False)
    answer = await client.session.get(start.headers["Location"], allow_redirects=False)
    location = answer.headers["Location"]
    if state is not None:
        current = location.split("state=", 1)[1].split("&", 1)[0]
        location = location.replace(current, state)
    path = URL(location, encoded=True).raw_path_qs
    return await client.get(URL(path, encoded=True), headers=headers, allow_redirects=False)


# (name, request, expected status)
ROUTES: list[tuple[str, Request, int]] = [
    ("chooser html", lambda c, f: c.get("/auth/login", headers=HTML), 200),
    ("chooser json", lambda c, f: c.get("/auth/login", headers=JSON), 200),
    ("login start", lambda c, f: c.get("/auth/login/fake", allow_redirects=False), 302),
    ("login unknown provider", lambda c, f: c.get("/auth/login/nope", headers=HTML), 404),
    ("callback success", lambda c, f: _callback(c), 303),
    ("callback bad state", lambda c, f: _callback(c, state="A" * 43), 400),
    ("callback bad state json", lambda c, f: _callback(c, state="A" * 43, headers=JSON), 400),
    ("callback unknown provider", lambda c, f: c.get("/auth/callback/nope?state=x"), 404),
    ("callback no state", lambda c, f: c.get("/auth/callback/fake"), 400),
    ("logout page", lambda c, f: c.get("/auth/logout"), 200),
    (
        "logout post",
        lambda c, f: c.post(
            "/auth/logout", headers={"Origin": origin_of(c)}, allow_redirects=False
        ),
        303,
    ),
    (
        "logout cross-site",
        lambda c, f: c.post(
            "/auth/logout", headers={"Origin": "https://evil.example"}, allow_redirects=False
        ),
        403,
    ),
    ("logout done", lambda c, f: c.get("/auth/logout/done", allow_redirects=False), 303),
    ("404 inside the prefix", lambda c, f: c.get("/auth/nope", headers=HTML), 404),
    ("404 prefix root", lambda c, f: c.get("/auth/", headers=HTML), 404),
    ("405 inside the prefix", lambda c, f: c.put("/auth/logout", headers=HTML), 405),
    ("405 on the callback", lambda c, f: c.post("/auth/callback/fake", headers=HTML), 405),
    (
        "protected, browser",
        lambda c, f: c.get("/private", headers=HTML, allow_redirects=False),
        302,
    ),
    ("protected, API", lambda c, f: c.get("/private", headers=JSON), 401),
]

CALLBACK_FAILURES = [
    ("token_error", 401),
    ("deny", 403),
    ("token_500", 502),
    ("token_timeout", 504),
    ("id_token_wrong_nonce", 401),
    ("iss_mismatch", 400),
]


def _check_no_store(resp: aiohttp.ClientResponse) -> None:
    assert resp.headers.get("Cache-Control") == "no-store", dict(resp.headers)


def _check_html(resp: aiohttp.ClientResponse, text: str) -> None:
    """Framing-proof and self-contained (G20)."""
    assert resp.headers.get("X-Frame-Options") == "DENY", dict(resp.headers)
    csp = resp.headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, csp
    lowered = text.lower()
    assert "<script" not in lowered
    assert "@import" not in lowered and "url(" not in lowered
    page = PageTags(text)
    assert not {"script", "iframe", "img", "object", "embed", "link", "base", "frame"} & set(
        page.tags
    )
    for url in page.urls:
        assert url.startswith("/") and not url.startswith("//") and "\\" not in url, url


async def _run(
    client: Client, fake: FakeProvider, request: Request, status: int
) -> tuple[aiohttp.ClientResponse, str]:
    resp = await request(client, fake)
    text = await resp.text()
    assert resp.status == status, (resp.status, text)
    return resp, text


@pytest.mark.parametrize(("name", "request_", "status"), ROUTES, ids=[r[0] for r in ROUTES])
async def test_no_store_on_every_route(
    client: Client, fake: FakeProvider, name: str, request_: Request, status: int
) -> None:
    if name == "logout post":
        await login_as(client, "alice")
    resp, _ = await _run(client, fake, request_, status)
    _check_no_store(resp)


@pytest.mark.parametrize(("mode", "status"), CALLBACK_FAILURES)
async def test_no_store_and_no_referrer_on_failed_callbacks(
    fast_client: Client, fake: FakeProvider, mode: str, status: int
) -> None:
    fake.fail(mode)
    resp = await _callback(fast_client)
    text = await resp.text()
    assert resp.status == status, text
    _check_no_store(resp)
    assert resp.headers.get("Referrer-Policy") == "no-referrer"
    _check_html(resp, text)


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("callback success", 303),
        ("callback bad state", 400),
        ("callback bad state json", 400),
        ("callback unknown provider", 404),
        ("callback no state", 400),
    ],
)
async def test_no_referrer_on_every_callback_answer(
    client: Client, fake: FakeProvider, name: str, status: int
) -> None:
    request = dict((r[0], r[1]) for r in ROUTES)[name]
    resp, _ = await _run(client, fake, request, status)
    assert resp.headers.get("Referrer-Policy") == "no-referrer"


async def _refuse_with_response(request: web.Request, user: User, token: TokenSet) -> web.Response:
    return web.Response(status=403, text="not you")


async def _refuse_with_exception(request: web.Request, user: User, token: TokenSet) -> None:
    raise web.HTTPForbidden()


async def _redirect_with_exception(request: web.Request, user: User, token: TokenSet) -> None:
    raise web.HTTPFound("/welcome")


async def _fail(request: web.Request, user: User, token: TokenSet) -> None:
    raise RuntimeError("hook bug")


@pytest.mark.parametrize(
    ("hook", "status"),
    [
        (_refuse_with_response, 403),
        (_refuse_with_exception, 403),
        (_redirect_with_exception, 302),
        (_fail, 403),
    ],
    ids=["on_login returns", "on_login raises 403", "on_login raises 302", "on_login fails"],
)
async def test_callback_answers_shaped_by_on_login(
    make_client: MakeClient, hook: Any, status: int
) -> None:
    """Answers that ``on_login`` shapes are callback answers too: no-referrer, no-store."""
    client = await make_client(on_login=hook)
    resp = await _callback(client)
    assert resp.status == status, await resp.text()
    assert resp.headers.get("Referrer-Policy") == "no-referrer"
    _check_no_store(resp)


HTML_PAGES: list[tuple[str, Request, int]] = [
    r
    for r in ROUTES
    if r[0]
    in {
        "chooser html",
        "login unknown provider",
        "callback bad state",
        "callback unknown provider",
        "callback no state",
        "logout page",
        "logout cross-site",
    }
]


@pytest.mark.parametrize(("name", "request_", "status"), HTML_PAGES, ids=[r[0] for r in HTML_PAGES])
async def test_every_html_page_is_framing_proof_and_self_contained(
    client: Client, fake: FakeProvider, name: str, request_: Request, status: int
) -> None:
    resp, text = await _run(client, fake, request_, status)
    assert resp.content_type == "text/html"
    _check_html(resp, text)


async def test_every_html_answer_inside_the_prefix_is_framing_proof(
    client: Client, fake: FakeProvider
) -> None:
    """Whatever the route: an HTML answer from inside ``/auth`` carries the frame headers."""
    for _name, request, status in ROUTES:
        resp, text = await _run(client, fake, request, status)
        if resp.content_type == "text/html" and resp.url.path.startswith("/auth"):
            _check_html(resp, text)


@login_required(allow=lambda user: False)
async def _nobody(request: web.Request) -> web.Response:
    return web.Response(text="never")


async def test_refusal_of_a_protected_handler(aiohttp_client: Any, fake: FakeProvider) -> None:
    """The 403 page ``@login_required`` answers for a signed-in user it does not allow."""
    app = build_app([oidc_provider_for(fake)])
    app.router.add_get("/nobody", _nobody)
    client: Client = await aiohttp_client(app)
    await login_as(client, "alice")
    resp = await client.get("/nobody", headers=HTML)
    text = await resp.text()
    assert resp.status == 403
    _check_no_store(resp)
    _check_html(resp, text)


async def test_pages_with_a_public_url_path_prefix_link_only_to_this_origin(
    make_client: MakeClient, fake: FakeProvider
) -> None:
    """With ``public_url`` under a path, links are still same-origin paths (the prefix added)."""
    client = await make_client(public_url="http://127.0.0.1/app")
    for path in ("/auth/login", "/auth/logout", "/auth/login/nope"):
        resp = await client.get(path, headers=HTML)
        text = await resp.text()
        _check_html(resp, text)
        for url in PageTags(text).urls:
            assert url.startswith("/app/"), url


async def test_success_redirect_carries_no_code_or_state(client: Client) -> None:
    resp = await login_flow(client, next="/after")
    assert resp.status == 303
    assert resp.headers["Location"] == "/after"
    assert "code" not in resp.headers["Location"] and "state" not in resp.headers["Location"]
