"""Sessions through the app: who counts as logged in, timeouts from inside the payload, key
rotation, and the keygen command (G9)."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

import aiohttp_oauth2_login._clock as plugin_clock
from aiohttp_oauth2_login import CookieStorage
from aiohttp_oauth2_login._sessions.cookie_storage import parse_keys
from aiohttp_oauth2_login.testing import find_login, login_as, login_flow

from ..support.app import COOKIE, KEY, OLD_KEY, Client, MakeClient, who
from ..support.session import session_cookie, set_session_cookie

REAL_MONOTONIC = time.monotonic


class Clock:
    """A stand-in for the ``time`` module of ``aiohttp_oauth2_login._clock``: the wall clock
    frozen at ``now`` (moved by the tests), the monotonic clock real."""

    def __init__(self) -> None:
        self.now = time.time()

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return REAL_MONOTONIC()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(plugin_clock, "time", fake)
    return fake


async def _set_session(client: Client, data: dict[str, Any]) -> None:
    """Write ``data`` as this client's session through the app's own storage."""
    storage = find_login(client.app).storage
    assert storage is not None
    session = await storage.new_session()
    session.update(data)
    response = web.Response()
    await storage.save_session(make_mocked_request("GET", "/"), response, session)
    for name, morsel in response.cookies.items():
        set_session_cookie(client, morsel.value, name)


async def test_user_is_visible_after_login(client: Client) -> None:
    assert await who(client) is None
    resp = await login_flow(client)
    assert resp.status == 303
    assert await who(client) == "alice"
    private = await client.get("/private")
    assert private.status == 200
    assert (await private.json())["id"] == "alice"


async def test_login_rotates_the_session(client: Client) -> None:
    await _set_session(client, {"app_data": "from before the login", "oauth": {"tx": []}})
    before = session_cookie(client)
    assert (await login_flow(client)).status == 303
    after = session_cookie(client)
    assert after is not None and after != before
    storage = find_login(client.app).storage
    assert isinstance(storage, CookieStorage)
    opened = storage.decrypt(after)
    assert opened is not None
    assert "app_data" not in opened[0]["session"]


async def test_idle_timeout_is_enforced_from_the_payload(
    make_client: MakeClient, clock: Clock
) -> None:
    client = await make_client(idle_timeout=100, session_lifetime=1000)
    await login_as(client, "alice")
    clock.now += 50
    assert await who(client) == "alice"
    clock.now += 51  # 101 s after the login, the last recorded activity
    assert await who(client) is None
    clock.now -= 101  # even back in time: the expired login was forgotten
    assert await who(client) is None


async def test_activity_extends_the_idle_timeout(make_client: MakeClient, clock: Clock) -> None:
    client = await make_client(idle_timeout=100, session_lifetime=1000)
    await login_as(client, "alice")
    for _ in range(5):
        clock.now += 90
        assert await who(client) == "alice"
    assert session_cookie(client) is not None


async def test_absolute_lifetime_is_enforced_from_the_payload(
    make_client: MakeClient, clock: Clock
) -> None:
    client = await make_client(idle_timeout=100, session_lifetime=250)
    await login_as(client, "alice")
    clock.now += 90
    assert await who(client) == "alice"
    clock.now += 90
    assert await who(client) == "alice"
    clock.now += 71  # 251 s after the login, though active 71 s ago
    assert await who(client) is None
    private = await client.get("/private")
    assert private.status == 401


async def test_idle_timeout_is_capped_by_the_lifetime(
    make_client: MakeClient, clock: Clock
) -> None:
    client = await make_client(idle_timeout=10_000, session_lifetime=100)
    await login_as(client, "alice")
    clock.now += 99
    assert await who(client) == "alice"
    clock.now += 2
    assert await who(client) is None


async def test_login_from_the_future_is_refused(make_client: MakeClient, clock: Clock) -> None:
    client = await make_client()
    clock.now += 3600
    await login_as(client, "alice")  # li/la an hour ahead of the server's clock
    clock.now -= 3600
    assert await who(client) is None


async def test_pending_transactions_alone_are_anonymous(client: Client) -> None:
    for _ in range(3):
        resp = await client.get("/auth/login/fake", allow_redirects=False)
        assert resp.status == 302
    jar = client.session.cookie_jar.filter_cookies(client.make_url("/auth/"))
    assert len([name for name in jar if "-tx-" in name]) == 3  # transactions: own cookies
    assert await who(client) is None
    private = await client.get("/private")
    assert private.status == 401


def _good_payload() -> dict[str, Any]:
    now = int(time.time())
    return {
        "u": {"p": "fake", "i": "alice", "n": "Alice"},
        "t": {"fake": {"a": "access"}},
        "li": now,
        "la": now,
        "b": "/auth/login",  # the setup it belongs to: the login path
    }


def _without(key: str) -> dict[str, Any]:
    return {k: v for k, v in _good_payload().items() if k != key}


WRONG_SHAPES: list[Any] = [
    None,
    "alice",
    ["u", "alice"],
    {},
    {"tx": []},
    {"t": {"fake": {"a": "access"}}},
    _without("u"),
    _without("li"),
    _without("la"),
    _without("b"),
    {**_good_payload(), "b": "/admin/auth/login"},  # another setup_oauth of the app tree
    {**_good_payload(), "b": None},
    {**_good_payload(), "u": "alice"},
    {**_good_payload(), "u": None},
    {**_good_payload(), "u": ["fake", "alice"]},
    {**_good_payload(), "u": {"p": "fake"}},
    {**_good_payload(), "u": {"i": "alice"}},
    {**_good_payload(), "u": {"p": "fake", "i": ""}},
    {**_good_payload(), "u": {"p": "", "i": "alice"}},
    {**_good_payload(), "u": {"p": "fake", "i": 1}},
    {**_good_payload(), "u": {"p": 1, "i": "alice"}},
    {**_good_payload(), "u": {"p": "fake", "i": "alice", "n": 5}},
    {**_good_payload(), "u": {"p": "fake", "i": "alice", "e": ["a@b"]}},
    {**_good_payload(), "li": "123"},
    {**_good_payload(), "li": None},
    {**_good_payload(), "li": float(int(time.time()))},
    {**_good_payload(), "la": "now"},
    {**_good_payload(), "la": [1]},
]


@pytest.mark.parametrize("namespace", WRONG_SHAPES, ids=repr)
async def test_wrong_shape_session_is_anonymous(client: Client, namespace: Any) -> None:
    await _set_session(client, {"oauth": namespace})
    assert await who(client) is None
    private = await client.get("/private", headers={"Accept": "text/html"}, allow_redirects=False)
    assert private.status == 302


async def test_hand_written_good_session_is_logged_in(client: Client) -> None:
    """The counterpart of the table above: the shapes differ from a valid session only there."""
    await _set_session(client, {"oauth": _good_payload()})
    assert await who(client) == "alice"


async def test_malformed_tokens_do_not_break_a_login(client: Client) -> None:
    await _set_session(client, {"oauth": {**_good_payload(), "t": {"fake": "nope", 3: []}}})
    assert await who(client) == "alice"


@pytest.mark.parametrize("value", ["garbage", "A" * 5000, "", "AQ" + "A" * 60])
async def test_unreadable_cookie_is_anonymous_never_500(client: Client, value: str) -> None:
    set_session_cookie(client, value)
    assert await who(client) is None
    private = await client.get("/private")
    assert private.status == 401


async def test_old_key_cookie_logs_in_after_rotation_and_is_reencrypted(
    make_client: MakeClient,
) -> None:
    before = await make_client(secret_key=OLD_KEY)
    await login_as(before, "alice")
    old_cookie = session_cookie(before)
    assert old_cookie is not None

    after = await make_client(secret_key=[KEY, OLD_KEY])
    set_session_cookie(after, old_cookie)
    resp = await after.get("/private")
    assert resp.status == 200
    assert (await resp.json())["id"] == "alice"
    assert COOKIE in resp.cookies
    new_cookie = resp.cookies[COOKIE].value
    assert new_cookie and new_cookie != old_cookie
    new_only, old_only = CookieStorage(KEY), CookieStorage(OLD_KEY)
    new_only.bind("/auth/login")
    old_only.bind("/auth/login")
    assert new_only.decrypt(new_cookie) is not None
    assert old_only.decrypt(new_cookie) is None

    only_new = await make_client(secret_key=KEY)
    set_session_cookie(only_new, new_cookie)
    assert await who(only_new) == "alice"
    set_session_cookie(only_new, old_cookie)
    assert await who(only_new) is None


async def test_current_key_cookie_is_not_rewritten_on_every_request(client: Client) -> None:
    await login_as(client, "alice")
    resp = await client.get("/private")
    assert resp.status == 200
    assert COOKIE not in resp.cookies


async def test_sessions_of_two_browsers_are_independent(make_client: MakeClient) -> None:
    one = await make_client()
    await login_as(one, "alice")
    two = await make_client()
    await login_as(two, "bob")
    assert await who(one) == "alice"
    assert await who(two) == "bob"


def test_keygen_command_prints_a_valid_key() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aiohttp_oauth2_login", "keygen"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    key = result.stdout.strip()
    assert result.stdout == key + "\n"
    assert len(parse_keys(key)[0]) == 32
    CookieStorage(key)


def test_keygen_without_the_subcommand_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "aiohttp_oauth2_login"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "keygen" in result.stderr
    assert result.stdout == ""
