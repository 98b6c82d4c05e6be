"""Issue #10 item 1: the session cookie cannot be smuggled past ``__Host-`` (G10).

A browser stores ``carrier=1 __Host-aiohttp_oauth2=<v>`` as one cookie named ``carrier``, and a
cookie whose name starts with NBSP, U+2000..U+200A, U+3000 or VT is not a ``__Host-`` cookie: a
sibling host (or a network attacker writing into any plain-http response of the domain) may set
them. Each form below carries the ATTACKER's genuine session (a real login of ``mallory``, with
a live access token at the provider), sent as raw bytes (UTF-8, as browsers send cookies) over a
socket to an app whose cookies are ``__Host-`` ones (``public_url="https://app.example"``). A VT
never passes aiohttp's HTTP/1.1 parser: those rows expect its 400, and the plugin's answer to
them is checked on mocked requests.

- an anonymous visitor with only attacker material is anonymous;
- a signed-in victim (``alice``) stays ``alice``; two pairs with the session name (or one chunk
  name) in one request are anonymous, whichever comes first;
- the provider's API never receives mallory's access token (``get_client``);
- cookie storage and Redis storage, fast path (cookie peek) and full path (aiohttp-session load)
  give the same, exact answer (chunk-name rows: cookie storage only).

A Hypothesis property then checks, for Cookie headers from a grammar of these pieces, that the
fast path (``peek_user``) and the full path (``load_auth`` behind aiohttp-session's middleware)
agree, and that mallory needs an exact standalone pair of her own. Counts: ``examples(300)``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import aiohttp_session
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request
from hypothesis import example, given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from aiohttp_oauth2_login import get_client, get_user
from aiohttp_oauth2_login._sessions.access import load_auth
from aiohttp_oauth2_login._sessions.middleware import attach
from aiohttp_oauth2_login._sessions.peek import Slow, peek_user
from aiohttp_oauth2_login._setup import OAuthLogin
from aiohttp_oauth2_login.errors import ReauthenticationRequired
from aiohttp_oauth2_login.testing import (
    FakeAccount,
    FakeProvider,
    find_login,
    login_as,
    login_flow,
    oidc_provider_for,
)
from aiohttp_oauth2_login.tokens import TokenSet
from aiohttp_oauth2_login.user import User

from ..fuzz import Runner, examples, record
from ..support.app import HOST_COOKIE as NAME
from ..support.app import build_app
from ..support.redis_peer import RedisPeer, running_redis

CHUNK = NAME + ".1"
PUBLIC_URL = "https://app.example"
ACCOUNTS = (FakeAccount(sub="alice", name="Alice"), FakeAccount(sub="mallory", name="Mallory"))
#: what a smuggled name follows inside another cookie's value (or, below, starts with)
SPACES = {
    "space": " ",
    "tab": "\t",
    "vt": "\x0b",
    "nbsp": "\xa0",
    **{f"u{code:04x}": chr(code) for code in range(0x2000, 0x200B)},
    "u3000": "\u3000",
}
#: a standalone pair starting with one of these is not the plugin's: SP and HTAB are trimmed by
#: browsers too (RFC 6265bis 5.6), so `` __Host-x=v`` can only be the genuine ``__Host-`` cookie
PREFIXES = {key: char for key, char in SPACES.items() if char not in " \t"}


# ---- the app, the provider and the people ------------------------------------------------------


class RecordingProvider(FakeProvider):
    """The fake provider, recording the bearer token of every protected-API call."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.api_tokens: list[str] = []

    def make_app(self) -> web.Application:
        app = super().make_app()

        @web.middleware
        async def record(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.path == "/api/me":
                bearer = request.headers.get("Authorization", "")
                self.api_tokens.append(bearer.removeprefix("Bearer "))
            response: web.StreamResponse = await handler(request)
            return response

        app.middlewares.append(record)
        return app


def probe_handler(login: OAuthLogin) -> Callable[[web.Request], Any]:
    """``/probe``: the Cookie headers as the app received them, the cookie peek, ``get_user``
    and whose account the provider's API answered for through ``get_client``.
    ``?path=full`` loads the aiohttp-session first, so the peek must answer SLOW."""

    async def probe(request: web.Request) -> web.Response:
        if request.query.get("path") == "full":
            attach(request, login.backend)  # no app-wide session middleware: as get_user does
            await aiohttp_session.get_session(request)
        peek = await login.backend.peek(request, login.config)
        user = await get_user(request)
        api: str | int | None = None
        try:
            client = await get_client(request)
        except ReauthenticationRequired:
            pass
        else:
            async with client.get("api/me") as resp:
                api = (await resp.json())["sub"] if resp.status == 200 else resp.status
        return web.json_response(
            {
                "cookie": request.headers.getall("Cookie", []),
                "peek": "SLOW" if isinstance(peek, Slow) else (peek.id if peek else None),
                "user": user.id if user else None,
                "api": api,
            }
        )

    return probe


@dataclass
class World:
    """A running app with ``__Host-`` cookies and the genuine cookie values of two logins."""

    storage: str
    fake: RecordingProvider
    app: web.Application
    login: OAuthLogin
    client: TestClient[web.Request, web.Application]
    alice: str  # the victim's session cookie value
    mallory: str  # the attacker's
    alice_chunks: tuple[str, str] = ("", "")  # cookie storage: a 2-cookie session of each
    mallory_chunks: tuple[str, str] = ("", "")
    alice_token: str = ""
    mallory_token: str = ""

    @property
    def port(self) -> int:
        port = self.client.server.port
        assert port is not None
        return port

    async def stop(self) -> None:
        await self.client.close()
        await self.fake.stop()


def _session_cookies(client: TestClient[web.Request, web.Application]) -> dict[str, str]:
    return {m.key: m.value for m in client.session.cookie_jar if m.key.startswith(NAME)}


async def _genuine(client: TestClient[web.Request, web.Application], account: str) -> str:
    """The session cookie of a real login of ``account`` through the provider's sign-in form."""
    client.session.cookie_jar.clear()
    resp = await login_flow(client, account=account)
    assert resp.status == 303, await resp.text()
    cookies = _session_cookies(client)
    assert list(cookies) == [NAME], cookies
    return cookies[NAME]


async def _chunked(
    client: TestClient[web.Request, web.Application], account: str, access_token: str
) -> tuple[str, str]:
    """A 2-cookie session of ``account`` holding its real access token and a big token set."""
    client.session.cookie_jar.clear()
    token = TokenSet(
        access_token=access_token,
        expires_at=int(time.time()) + 3600,
        refresh_token=secrets.token_urlsafe(2000),  # ~4 KB of cookie: two chunks
    )
    await login_as(client, User(provider="fake", id=account, name=account), token=token)
    cookies = _session_cookies(client)
    assert sorted(cookies) == [NAME, CHUNK], cookies
    assert cookies[NAME].startswith("2~")
    return cookies[NAME], cookies[CHUNK]


async def start_world(storage: str, **options: Any) -> World:
    fake = RecordingProvider(accounts=ACCOUNTS)
    await fake.start()
    app = build_app([oidc_provider_for(fake)], public_url=PUBLIC_URL, **options)
    login = find_login(app)
    app.router.add_get("/probe", probe_handler(login))
    server = TestServer(app)
    await server.start_server()
    # the login flow sets Secure cookies: the jar sends them to this http test server
    jar = aiohttp.CookieJar(unsafe=True, treat_as_secure_origin=server.make_url("/"))
    client: TestClient[web.Request, web.Application] = TestClient(server, cookie_jar=jar)
    await client.start_server()
    world = World(storage, fake, app, login, client, alice="", mallory="")
    world.alice = await _genuine(client, "alice")
    world.mallory = await _genuine(client, "mallory")
    client.session.cookie_jar.clear()
    # each genuine cookie alone signs its owner in, and its owner's token reaches the API
    for attr, user in (("alice_token", "alice"), ("mallory_token", "mallory")):
        fake.api_tokens.clear()
        value = world.alice if user == "alice" else world.mallory
        status, body = await fetch(world, [f"{NAME}={value}"])
        assert status == 200 and body["user"] == body["api"] == user, body
        assert len(fake.api_tokens) == 1
        setattr(world, attr, fake.api_tokens[0])
    assert world.alice_token != world.mallory_token
    if storage == "cookie":
        world.alice_chunks = await _chunked(client, "alice", world.alice_token)
        world.mallory_chunks = await _chunked(client, "mallory", world.mallory_token)
    client.session.cookie_jar.clear()
    fake.api_tokens.clear()
    return world


async def fetch(world: World, cookies: list[str], path: str = "fast") -> tuple[int, Any]:
    """GET /probe with these ``Cookie`` header lines, as UTF-8 bytes (what browsers send) on a
    raw socket: no client library re-encodes, folds or drops anything."""
    lines = [f"GET /probe?path={path} HTTP/1.1", "Host: app.example", "Connection: close"]
    lines += [f"Cookie: {value}" for value in cookies]
    reader, writer = await asyncio.open_connection("127.0.0.1", world.port)
    try:
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("utf-8"))
        raw = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    head, _, body = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body) if status == 200 else body


# ---- the table ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """``cookies(world)``: the Cookie header lines; ``expect``: the one right answer."""

    id: str
    cookies: Callable[[World], list[str]]
    expect: str | None  # the signed-in user's id, or None: anonymous
    storages: tuple[str, ...] = ("cookie", "redis")
    control: bool = False  # not an attack: genuine cookies only (the material is live)
    #: aiohttp's HTTP/1.1 parser answers 400 to a VT in a header (the app never sees it); the
    #: plugin's answer is checked on a mocked request (``test_forms_http_1_1_refuses``)
    refused: bool = False


def _victim(w: World) -> str:
    return f"{NAME}={w.alice}"


def _victim_chunks(w: World) -> str:
    return f"{NAME}={w.alice_chunks[0]}; {CHUNK}={w.alice_chunks[1]}"


def _attacker_after(prefix: str) -> Callable[[World], str]:
    return lambda w: f"{prefix}{NAME}={w.mallory}"


def _smuggled(key: str, fragment: Callable[[World], str]) -> Iterator[Case]:
    """A form of attacker material against an anonymous visitor and a signed-in victim (the
    attacker's cookie after and before the victim's)."""
    yield Case(f"{key}/anonymous", lambda w: [f"theme=dark; {fragment(w)}"], None)
    yield Case(f"{key}/victim-first", lambda w: [f"{_victim(w)}; {fragment(w)}"], "alice")
    yield Case(f"{key}/attacker-first", lambda w: [f"{fragment(w)}; {_victim(w)}"], "alice")


def _with_refusal(cases: Iterator[Case], refused: bool) -> Iterator[Case]:
    for case in cases:
        yield dataclasses.replace(case, refused=refused)


def _cases() -> list[Case]:
    cases = [
        Case("control/victim", lambda w: [_victim(w)], "alice", control=True),
        Case("control/attacker", lambda w: [f"{NAME}={w.mallory}"], "mallory", control=True),
        Case("control/victim-chunks", lambda w: [_victim_chunks(w)], "alice", ("cookie",), True),
        Case(
            "control/attacker-chunks",
            lambda w: [f"{NAME}={w.mallory_chunks[0]}; {CHUNK}={w.mallory_chunks[1]}"],
            "mallory",
            ("cookie",),
            True,
        ),
    ]
    for key, char in SPACES.items():  # the name after a space inside another cookie's value
        form = _smuggled(f"in-value-{key}", _attacker_after(f"carrier=1{char}"))
        cases += _with_refusal(form, char == "\x0b")
    for key, char in PREFIXES.items():  # a cookie whose name starts with a Unicode space
        form = _smuggled(f"before-name-{key}", _attacker_after(char))
        cases += _with_refusal(form, char == "\x0b")
    cases += _smuggled("quoted", lambda w: f'carrier="x {NAME}={w.mallory}"')
    cases += _smuggled("quoted-start", lambda w: f'carrier="{NAME}={w.mallory}"')
    cases += [
        # two pairs with the session name: anonymous, never first or last wins
        Case("duplicate/victim-first", lambda w: [f"{_victim(w)}; {NAME}={w.mallory}"], None),
        Case("duplicate/attacker-first", lambda w: [f"{NAME}={w.mallory}; {_victim(w)}"], None),
        Case("duplicate/anonymous", lambda w: [f"{NAME}={w.mallory}; {NAME}={w.mallory}"], None),
        # a repeated chunk name makes a chunked session anonymous
        Case(
            "chunk-duplicate/victim-first",
            lambda w: [f"{_victim_chunks(w)}; {CHUNK}={w.mallory_chunks[1]}"],
            None,
            ("cookie",),
        ),
        Case(
            "chunk-duplicate/attacker-first",
            lambda w: [f"{CHUNK}={w.mallory_chunks[1]}; {_victim_chunks(w)}"],
            None,
            ("cookie",),
        ),
        Case(
            "chunk-duplicate/anonymous",
            lambda w: [
                f"{NAME}={w.mallory_chunks[0]}; {CHUNK}={w.mallory_chunks[1]}; "
                f"{CHUNK}={w.mallory_chunks[1]}"
            ],
            None,
            ("cookie",),
        ),
        # the attacker's chunked session smuggled whole, or only its second chunk
        Case(
            "chunks-smuggled/anonymous",
            lambda w: [
                f"carrier=1 {NAME}={w.mallory_chunks[0]}; carrier=2 {CHUNK}={w.mallory_chunks[1]}"
            ],
            None,
            ("cookie",),
        ),
        Case(
            "chunks-smuggled/victim",
            lambda w: [
                f"{_victim(w)}; carrier=1 {NAME}={w.mallory_chunks[0]}; "
                f"carrier=2 {CHUNK}={w.mallory_chunks[1]}"
            ],
            "alice",
            ("cookie",),
        ),
        Case(
            "chunk-smuggled/victim-chunks",
            lambda w: [f"{_victim_chunks(w)}; carrier=1 {CHUNK}={w.mallory_chunks[1]}"],
            "alice",
            ("cookie",),
        ),
        # several Cookie header lines: the plugin joins them with "; " (RFC 9113 8.2.3)
        Case(
            "headers/duplicate-victim-first",
            lambda w: [_victim(w), f"{NAME}={w.mallory}"],
            None,
        ),
        Case(
            "headers/duplicate-attacker-first",
            lambda w: [f"{NAME}={w.mallory}", _victim(w)],
            None,
        ),
        Case(
            "headers/duplicate-anonymous",
            lambda w: [f"{NAME}={w.mallory}", f"{NAME}={w.mallory}"],
            None,
        ),
        Case(
            "headers/smuggled-victim-first",
            lambda w: [_victim(w), f"carrier=1 {NAME}={w.mallory}"],
            "alice",
        ),
        Case(
            "headers/smuggled-attacker-first",
            lambda w: [f"carrier=1\xa0{NAME}={w.mallory}", _victim(w)],
            "alice",
        ),
        Case(
            "headers/smuggled-anonymous",
            lambda w: ["theme=dark", f"carrier=1\u2003{NAME}={w.mallory}"],
            None,
        ),
    ]
    return cases


CASES = _cases()
STORAGES = ("cookie", "redis")


@pytest.fixture(scope="module")
def redis_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisPeer]:
    yield from running_redis(tmp_path_factory)


@pytest.fixture(scope="module")
def cookie_world(runner: Runner) -> Iterator[World]:
    world = runner.run(start_world("cookie"))
    yield world
    runner.run(world.stop())


@pytest.fixture(scope="module")
def redis_world(runner: Runner, redis_peer: RedisPeer) -> Iterator[World]:
    world = runner.run(start_world("redis", redis_url=redis_peer.url))
    yield world
    runner.run(world.stop())


ROWS = [
    pytest.param(storage, case, id=f"{storage}:{case.id}")
    for storage in STORAGES
    for case in CASES
    if storage in case.storages
]


async def _check(world: World, case: Case) -> None:
    cookies = case.cookies(world)
    never = set() if case.control else {"mallory"}
    tokens = {"alice": world.alice_token, "mallory": world.mallory_token}
    for path in ("fast", "full"):
        world.fake.api_tokens.clear()
        status, body = await fetch(world, cookies, path)
        seen = {k: body[k] for k in ("user", "api", "peek")} if status == 200 else body
        where = f"{case.id} ({world.storage}, {path} path): {seen!r:.300}"
        if case.refused:
            assert status == 400, where
            assert world.fake.api_tokens == [], where
            continue
        assert status == 200, where
        assert body["cookie"] == cookies, where  # the app received exactly these characters
        assert body["user"] not in never, where
        assert body["api"] not in never, where
        assert world.mallory_token not in world.fake.api_tokens or case.control, where
        assert body["user"] == case.expect, where
        assert body["api"] == case.expect, where
        expected_tokens = [] if case.expect is None else [tokens[str(case.expect)]]
        assert world.fake.api_tokens == expected_tokens, where
        if path == "full":
            assert body["peek"] == "SLOW", where  # the full path decided
        elif case.control:
            assert body["peek"] == case.expect, where  # the fast path decided


@pytest.mark.parametrize(("storage", "case"), ROWS)
def test_smuggled_session_cookie_is_never_the_attacker(
    runner: Runner, request: pytest.FixtureRequest, storage: str, case: Case
) -> None:
    world: World = request.getfixturevalue(f"{storage}_world")
    runner.run(_check(world, case))


REFUSED_ROWS = [
    pytest.param(storage, case, id=f"{storage}:{case.id}")
    for storage in STORAGES
    for case in CASES
    if case.refused
]


@pytest.mark.parametrize(("storage", "case"), REFUSED_ROWS)
def test_forms_http_1_1_refuses_give_the_same_answer_on_both_paths(
    runner: Runner, request: pytest.FixtureRequest, storage: str, case: Case
) -> None:
    """A VT never passes aiohttp's HTTP/1.1 parser; the plugin still reads such a header (from a
    more lenient front end) as the table says, on the fast and the full path."""
    world: World = request.getfixturevalue(f"{storage}_world")
    [header] = case.cookies(world)
    assert "\x0b" in header
    fast, full = runner.run(_both_paths(world, header))
    assert not isinstance(fast, User) or fast.id == case.expect, (case.id, fast)
    assert full == case.expect, (case.id, full)


def test_the_table_covers_every_form() -> None:
    ids = {case.id.partition("/")[0] for case in CASES}
    for key in SPACES:
        assert f"in-value-{key}" in ids
    for key in PREFIXES:
        assert f"before-name-{key}" in ids
    assert {chr(code) for code in range(0x2000, 0x200B)} <= set(PREFIXES.values())
    assert {"\xa0", "\u3000", "\x0b"} <= set(PREFIXES.values())


# ---- the property: one parser, two paths ------------------------------------------------------

OTHER_NAMES = ["carrier", "theme", "__Host-other", "aiohttp_oauth2", "__host-aiohttp_oauth2"]
JUNK = ["", " ", "\t", "\x0b", "\xa0", "\u2000", "\u2003", "\u200a", "\u3000", '"', "=", "x "]
SEPARATORS = ["; ", ";", ";;", " ", "\t", "\xa0", "\u2003", "\u3000", " ; ", ";\t", '"', "="]


def _strict_pairs(header: str) -> list[tuple[str, str]]:
    """The oracle: pairs split on ``;`` only, SP/HTAB trimmed (RFC 6265bis 5.6), no ``=``
    means no name."""
    pairs = []
    for piece in header.split(";"):
        name, eq, value = piece.partition("=")
        if eq:
            pairs.append((name.strip(" \t"), value.strip(" \t")))
    return pairs


def _values(w: World) -> dict[str, str]:
    return {
        "<victim>": w.alice,
        "<attacker>": w.mallory,
        "<victim-0>": w.alice_chunks[0],
        "<victim-1>": w.alice_chunks[1],
        "<attacker-0>": w.mallory_chunks[0],
        "<attacker-1>": w.mallory_chunks[1],
    }


def _maybe(options: list[str]) -> st.SearchStrategy[str]:
    return st.one_of(st.just(""), st.sampled_from(options))


PAIR = st.tuples(
    _maybe(JUNK),  # before the name
    st.one_of(st.just(NAME), st.sampled_from([CHUNK, NAME + ".2", *OTHER_NAMES])),
    st.one_of(st.just("="), st.sampled_from(['="', "", "= "])),
    st.one_of(
        st.sampled_from(["<victim>", "<attacker>"]),
        st.sampled_from(["<victim-0>", "<victim-1>", "<attacker-0>", "<attacker-1>", "1", ""]),
    ),
    _maybe(JUNK),  # after the value
).map("".join)
CHUNKED = st.sampled_from(["victim", "attacker"]).map(
    lambda who: f"{NAME}=<{who}-0>; {CHUNK}=<{who}-1>"
)
#: a Cookie header template; ``<victim>`` etc. stand for the genuine cookie values
HEADER = st.lists(
    st.tuples(st.one_of(PAIR, PAIR, CHUNKED, st.sampled_from(JUNK)), _maybe(SEPARATORS)),
    min_size=1,
    max_size=5,
).map(lambda pieces: "".join(piece + (sep or "; ") for piece, sep in pieces))


def _build(world: World, template: str) -> str:
    for token, value in _values(world).items():
        template = template.replace(token, value)
    return template


def _mocked(world: World, header: str) -> web.Request:
    return make_mocked_request("GET", "/", headers=CIMultiDict([("Cookie", header)]), app=world.app)


async def _both_paths(world: World, header: str) -> tuple[object, str | None]:
    """(the fast path's answer: a User, None or SLOW; the full path's user id) for one header.
    The fast path is ``peek_user`` for the cookie storage (``RedisPeek`` for Redis), the full
    path ``load_auth`` behind aiohttp-session's own middleware."""
    login = world.login
    request = _mocked(world, header)
    if world.storage == "cookie":
        fast: object = peek_user(request, login.config, login.storage)
    else:
        fast = await login.backend.peek(request, login.config)
    seen: list[str | None] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        state = await load_auth(request, login.config)
        seen.append(state.user.id if state.user else None)
        return web.Response()

    middleware = aiohttp_session.session_middleware(login.storage)  # installs the storage
    await middleware(_mocked(world, header), handler)
    return fast, seen[0]


V, M = f"{NAME}=<victim>", f"{NAME}=<attacker>"
CHUNK_NAMES = {NAME, *(f"{NAME}.{index}" for index in range(1, 10))}


@settings(max_examples=examples(300))
@given(template=HEADER)
@example(template=V)  # the victim alone: alice on both paths
@example(template=f"{V}; \xa0{M}")
@example(template=f"{V}; \x0b{M}")
@example(template=f"{V}; carrier=1\u3000{M}")
@example(template=f"carrier=1 {M}")
@example(template=f"{M}; {V}")
@example(template=f"{NAME}=<victim-0>; {CHUNK}=<victim-1>; {CHUNK}=<attacker-1>")
@example(template=f"{V}; {NAME}.2=1; {NAME}.2=1")
def test_fast_and_full_path_agree_for_any_cookie_header(
    runner: Runner, cookie_world: World, template: str
) -> None:
    world = cookie_world
    header = _build(world, template)
    fast, full = runner.run(_both_paths(world, header))
    record(f"fast {'SLOW' if isinstance(fast, Slow) else getattr(fast, 'id', None)}, full {full}")
    if isinstance(fast, User):
        assert full == fast.id, (header, fast, full)
    elif fast is None:
        assert full is None, (header, full)
    values = _values(world)
    pairs = _strict_pairs(header)
    attacker = {values["<attacker>"], values["<attacker-0>"], values["<attacker-1>"]}
    if not any(name in (NAME, CHUNK) and value in attacker for name, value in pairs):
        # mallory needs an exact standalone pair of her own, on either path
        assert full != "mallory" and not (isinstance(fast, User) and fast.id == "mallory"), header
    names = Counter(name for name, _ in pairs if name in CHUNK_NAMES)
    if any(count > 1 for count in names.values()):  # the session or a chunk name twice
        assert full is None and not isinstance(fast, User), header
