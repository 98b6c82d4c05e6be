"""Isolation from a hostile provider (G6, G7; README, Routes: 502/504, never a 500).

The hostile OIDC provider runs on a thread and event loop of its own (as far as the app can tell,
another machine). Each case makes one of its endpoints hang, trickle a byte at a time, stream a
gigabyte (chunked, or with a declared ``Content-Length``), redirect, or serve a JWKS of thousands
of keys, while a login (or logout) of the app is waiting on it. Meanwhile ``/health`` of the same
app is polled every 20 ms.

Properties: ``/health`` keeps answering (its worst latency stays under 0.5 s: a liveness
bound, not a benchmark); the stuck request ends with the documented status (502/504; logout:
303) within ``http_timeout`` (1 s) plus a small margin; a redirect is never followed; and the
gigabyte stream is never buffered (the traced memory peak stays under 20 MB). The figures are
printed (``pytest -s tests/test_isolation.py``).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from yarl import URL

from aiohttp_oauth2_login.providers import OIDCProvider

from .support.app import Client, build_app, health

HTTP_TIMEOUT = 1.0
MARGIN = 0.75  # seconds a stuck request may take beyond http_timeout
HEALTH_BOUND = 0.5
MEMORY_BOUND = 20 * 1024 * 1024
CHUNK = b" " * 65536  # allocated once: the hostile side streams without allocating
GIGABYTE = 2**30
CLIENT_ID = "isolation-client"
JSON_TYPE = "application/json"


class HostileProvider:
    """An OIDC provider on its own thread whose endpoints misbehave on demand.

    ``modes`` maps an endpoint (``discovery``, ``jwks``, ``token``, ``userinfo``, ``revoke``) to
    ``hang``, ``trickle``, ``gigabyte``, ``gigabyte_declared``, ``redirect``, ``thousands`` or
    ``thousands_rsa``; anything else answers like a working provider.
    """

    def __init__(self) -> None:
        self.modes: dict[str, str] = {}
        self.hits: Counter[str] = Counter()
        self.nonce: str | None = None
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.jwk = {
            **RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True),
            "kid": "real",
            "use": "sig",
            "alg": "RS256",
        }
        ec_public = ec.generate_private_key(ec.SECP256R1()).public_key()
        ec_jwk = ECAlgorithm.to_jwk(ec_public, as_dict=True)
        decoys = [{**ec_jwk, "kid": f"decoy-{i}", "use": "sig"} for i in range(5000)]
        rsa_decoys = [{**self.jwk, "kid": f"decoy-{i}"} for i in range(3000)]
        self.thousands = json.dumps({"keys": [*decoys, self.jwk]}).encode()
        self.thousands_rsa = json.dumps({"keys": [*rsa_decoys, self.jwk]}).encode()
        self.base = ""
        self._loop = asyncio.new_event_loop()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    # ---- life cycle (called from the test's thread) -----------------------------------------

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)

    def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._endpoint("discovery"))
        app.router.add_get("/jwks", self._endpoint("jwks"))
        app.router.add_post("/token", self._endpoint("token"))
        app.router.add_post("/elsewhere", self._endpoint("elsewhere"))
        app.router.add_get("/elsewhere", self._endpoint("elsewhere"))
        app.router.add_get("/userinfo", self._endpoint("userinfo"))
        app.router.add_post("/revoke", self._endpoint("revoke"))
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.base = f"http://127.0.0.1:{port}"

    # ---- behaviour ----------------------------------------------------------------------------

    def _endpoint(self, name: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            self.hits[name] += 1
            await request.read()
            mode = self.modes.get(name, "ok")
            if mode == "hang":
                await self._wait(request, 60)
                return web.Response(status=503)
            if mode == "trickle":
                return await self._trickle(request)
            if mode in ("gigabyte", "gigabyte_declared"):
                return await self._gigabyte(request, declared=mode == "gigabyte_declared")
            if mode == "redirect":
                raise web.HTTPTemporaryRedirect(self.base + "/elsewhere")
            if name == "jwks" and mode in ("thousands", "thousands_rsa"):
                body = self.thousands if mode == "thousands" else self.thousands_rsa
                return web.Response(body=body, content_type=JSON_TYPE)
            return web.json_response(self._answer(name))

        return handler

    def _answer(self, name: str) -> Any:
        now = int(time.time())
        if name == "discovery":
            return {
                "issuer": self.base,
                "authorization_endpoint": self.base + "/authorize",
                "token_endpoint": self.base + "/token",
                "userinfo_endpoint": self.base + "/userinfo",
                "jwks_uri": self.base + "/jwks",
                "revocation_endpoint": self.base + "/revoke",
            }
        if name == "jwks":
            return {"keys": [self.jwk]}
        if name in ("token", "elsewhere"):
            claims = {
                "iss": self.base,
                "sub": "user-1",
                "aud": CLIENT_ID,
                "iat": now,
                "exp": now + 300,
                "nonce": self.nonce,
            }
            id_token = jwt.encode(claims, self.key, "RS256", headers={"kid": "real"})
            return {
                "access_token": "at-isolation",
                "token_type": "Bearer",
                "refresh_token": "rt-isolation",
                "expires_in": 3600,
                "id_token": id_token,
            }
        if name == "userinfo":
            return {"sub": "user-1", "name": "User One"}
        return {}

    async def _wait(self, request: web.Request, seconds: float) -> bool:
        """Sleep until the client hangs up (False) or ``seconds`` pass (True)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            transport = request.transport
            if self._stopping.is_set() or transport is None or transport.is_closing():
                return False
            await asyncio.sleep(0.02)
        return True

    async def _trickle(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": JSON_TYPE})
        await response.prepare(request)
        try:
            await response.write(b'{"a":"')
            while await self._wait(request, 0.1):
                await response.write(b"x")
        except ConnectionError:
            pass
        return response

    async def _gigabyte(self, request: web.Request, *, declared: bool) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": JSON_TYPE})
        if declared:
            response.content_length = GIGABYTE
        await response.prepare(request)
        try:
            for _ in range(GIGABYTE // len(CHUNK)):
                if self._stopping.is_set():
                    break
                await response.write(CHUNK)
        except ConnectionError:
            pass
        return response


@pytest.fixture(scope="module")
def hostile() -> Iterator[HostileProvider]:
    provider = HostileProvider()
    provider.start()
    yield provider
    provider.stop()


@pytest.fixture
async def client(aiohttp_client: Any, hostile: HostileProvider) -> Client:
    hostile.modes = {}
    hostile.hits.clear()
    provider = OIDCProvider(
        name="evil", issuer=hostile.base, client_id=CLIENT_ID, client_secret="secret"
    )
    app = build_app([provider], http_timeout=HTTP_TIMEOUT)
    app.router.add_get("/health", health)
    test_client: Client = await aiohttp_client(app)
    return test_client


@dataclass
class Figures:
    status: int
    elapsed: float
    health: list[float]

    def line(self, case: str, extra: str = "") -> str:
        worst = max(self.health, default=0.0)
        median = statistics.median(self.health) if self.health else 0.0
        return (
            f"[isolation] {case:<26} -> {self.status} in {self.elapsed:.3f} s; /health "
            f"{len(self.health)} calls, median {median * 1000:.1f} ms, worst {worst * 1000:.1f} ms"
            + extra
        )


async def _while_stuck(client: Client, request: Awaitable[aiohttp.ClientResponse]) -> Figures:
    """Run ``request`` and poll ``/health`` until it ends."""
    started = time.monotonic()
    task = asyncio.ensure_future(request)
    latencies: list[float] = []
    while not task.done():
        sent = time.monotonic()
        health = await client.get("/health")
        assert health.status == 200
        latencies.append(time.monotonic() - sent)
        await asyncio.sleep(0.02)
    resp = await task
    await resp.read()
    return Figures(resp.status, time.monotonic() - started, latencies)


async def _start_login(client: Client, hostile: HostileProvider) -> str:
    """Start a login; the hostile provider learns the nonce. Returns the callback URL."""
    start = await client.get("/auth/login/evil", allow_redirects=False)
    assert start.status == 302, await start.text()
    query = URL(start.headers["Location"]).query
    hostile.nonce = query["nonce"]
    return f"/auth/callback/evil?code=c0de&state={query['state']}"


def _check(figures: Figures, status: int | tuple[int, ...], case: str, extra: str = "") -> None:
    print(figures.line(case, extra))
    expected = status if isinstance(status, tuple) else (status,)
    assert figures.status in expected, figures
    assert figures.elapsed < HTTP_TIMEOUT + MARGIN, figures
    assert max(figures.health, default=0.0) < HEALTH_BOUND, figures


CALLBACK_CASES = [
    pytest.param("token", "hang", 504, id="token-hangs"),
    pytest.param("token", "trickle", 504, id="token-trickles"),
    pytest.param("token", "gigabyte", 502, id="token-gigabyte-chunked"),
    pytest.param("token", "gigabyte_declared", 502, id="token-gigabyte-declared"),
    pytest.param("token", "redirect", 502, id="token-redirects"),
    pytest.param("jwks", "hang", 504, id="jwks-hangs"),
    pytest.param("jwks", "trickle", 504, id="jwks-trickles"),
    pytest.param("jwks", "gigabyte", 502, id="jwks-gigabyte"),
    pytest.param("jwks", "redirect", 502, id="jwks-redirects"),
    pytest.param("jwks", "thousands", (303, 401), id="jwks-5000-keys"),
    pytest.param("jwks", "thousands_rsa", (303, 401, 502), id="jwks-3000-rsa-keys"),
    pytest.param("userinfo", "hang", 504, id="userinfo-hangs"),
    pytest.param("userinfo", "trickle", 504, id="userinfo-trickles"),
    pytest.param("userinfo", "gigabyte", 502, id="userinfo-gigabyte"),
]


@pytest.mark.parametrize(("endpoint", "mode", "status"), CALLBACK_CASES)
async def test_stuck_callback_does_not_stall_the_app(
    client: Client,
    hostile: HostileProvider,
    endpoint: str,
    mode: str,
    status: int | tuple[int, ...],
) -> None:
    callback = await _start_login(client, hostile)
    hostile.modes = {endpoint: mode}
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        figures = await _while_stuck(client, client.get(callback, allow_redirects=False))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    _check(figures, status, f"{endpoint} {mode}", f"; traced memory peak {peak / 2**20:.1f} MiB")
    assert peak < MEMORY_BOUND, peak
    assert hostile.hits["elsewhere"] == 0  # a redirect is never followed
    if figures.status != 303:
        anonymous = await client.get("/", headers={"Accept": "application/json"})
        assert (await anonymous.json())["user"] is None


@pytest.mark.parametrize("mode", ["hang", "trickle", "gigabyte", "redirect"])
async def test_stuck_discovery_does_not_stall_the_app(
    client: Client, hostile: HostileProvider, mode: str
) -> None:
    hostile.modes = {"discovery": mode}
    figures = await _while_stuck(client, client.get("/auth/login/evil", allow_redirects=False))
    _check(figures, 504 if mode in ("hang", "trickle") else 502, f"discovery {mode}")
    assert hostile.hits["elsewhere"] == 0
    hostile.modes = {}  # a failed discovery is not cached: the provider recovers
    assert (await client.get("/auth/login/evil", allow_redirects=False)).status == 302


@pytest.mark.parametrize("mode", ["hang", "trickle", "gigabyte", "redirect"])
async def test_stuck_revocation_does_not_stall_logout(
    client: Client, hostile: HostileProvider, mode: str
) -> None:
    callback = await _start_login(client, hostile)
    assert (await client.get(callback, allow_redirects=False)).status == 303
    hostile.modes = {"revoke": mode}
    origin = str(client.make_url("/").origin())
    logout = client.post("/auth/logout", headers={"Origin": origin}, allow_redirects=False)
    figures = await _while_stuck(client, logout)
    _check(figures, 303, f"revocation {mode}")
    assert hostile.hits["revoke"] == 1
    assert hostile.hits["elsewhere"] == 0
    me = await client.get("/", headers={"Accept": "application/json"})
    assert (await me.json())["user"] is None  # signed out locally all the same


async def test_the_hostile_provider_signs_in_when_it_behaves(
    client: Client, hostile: HostileProvider
) -> None:
    """The harness itself: with every endpoint answering, the login succeeds."""
    callback = await _start_login(client, hostile)
    figures = await _while_stuck(client, client.get(callback, allow_redirects=False))
    _check(figures, 303, "well-behaved")
