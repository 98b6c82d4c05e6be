"""Login cost, refresh storm and memory, against the fake provider on the other core."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from yarl import URL

from bench.run import free_port, process, wait_ready

LOGINS_SEQUENTIAL = 300
LOGINS_MEMORY = 10_000
PENDING = 1_000
STORM = 100


@asynccontextmanager
async def stack() -> AsyncIterator[tuple[str, str]]:
    """The fake provider (core 1) and the app (core 0); yields (app URL, provider URL)."""
    fake_port, app_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{fake_port}"
    with (
        process([sys.executable, "-m", "bench.servers", "fake", str(fake_port)], core=1),
        process([sys.executable, "-m", "bench.servers", "app", str(app_port), issuer], core=0),
    ):
        await wait_ready(f"{issuer}/.well-known/openid-configuration")
        await wait_ready(f"http://127.0.0.1:{app_port}/bare")
        yield f"http://127.0.0.1:{app_port}", issuer


async def login(app: str, http: aiohttp.ClientSession | None = None) -> aiohttp.ClientSession:
    """One complete login like a browser; returns the session holding the cookie."""
    http = http or aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(f"{app}/auth/login/fake", allow_redirects=False) as start:
        authorize = start.headers["Location"]
    async with http.get(authorize, allow_redirects=False) as approved:
        callback = approved.headers["Location"]
    async with http.get(f"{app}{URL(callback).path_qs}", allow_redirects=False) as done:
        if done.status != 303:
            raise RuntimeError(f"login failed: {done.status}")
    return http


async def stats(app: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{app}/__stats") as resp:
        result: dict[str, Any] = await resp.json()
        return result


async def login_cost() -> dict[str, Any]:
    """Server CPU per login (sequential, so the process does nothing else) and logins/s."""
    async with stack() as (app, _):
        await login(app)  # warm-up: discovery, JWKS, imports
        async with aiohttp.ClientSession() as http:
            before = await stats(app)
            for _ in range(2000):
                async with http.get(f"{app}/bare") as resp:
                    await resp.read()
            after = await stats(app)
        bare_ms = (after["cpu"] - before["cpu"]) / 2000 * 1000
        before = await stats(app)
        for _ in range(LOGINS_SEQUENTIAL):
            await (await login(app)).close()
        after = await stats(app)
        per_login_ms = (after["cpu"] - before["cpu"]) / LOGINS_SEQUENTIAL * 1000

        async def worker(count: int) -> None:
            for _ in range(count):
                await (await login(app)).close()

        started = time.perf_counter()
        await asyncio.gather(*(worker(50) for _ in range(16)))
        rate = 16 * 50 / (time.perf_counter() - started)
    return {
        "server_cpu_ms_per_login": round(per_login_ms, 3),
        "bare_request_cpu_ms": round(bare_ms, 3),
        "plugin_cpu_ms_per_login": round(per_login_ms - 2 * bare_ms, 3),
        "logins_per_s_16_concurrent": round(rate, 1),
    }


async def refresh_storm() -> dict[str, Any]:
    """STORM concurrent requests of one session with an expired token: refreshes and latency."""
    async with stack() as (app, issuer):
        http = await login(app)

        async def burst() -> list[float]:
            async def one() -> float:
                started = time.perf_counter()
                async with http.get(f"{app}/storm", headers={"Accept": "application/json"}) as r:
                    if r.status != 200 or (await r.json())["status"] != 200:
                        raise RuntimeError(f"storm request failed: {r.status}")
                return (time.perf_counter() - started) * 1000

            return list(await asyncio.gather(*(one() for _ in range(STORM))))

        baseline = await burst()
        async with aiohttp.ClientSession() as plain:
            async with plain.get(f"{issuer}/__calls") as resp:
                refreshes_before = (await resp.json()).get("refresh", 0)
            await (await plain.post(f"{issuer}/__expire")).release()
            storm = await burst()
            async with plain.get(f"{issuer}/__calls") as resp:
                refreshes = (await resp.json()).get("refresh", 0) - refreshes_before
        await http.close()
    return {
        "concurrent_requests": STORM,
        "refresh_requests": refreshes,
        "median_ms_fresh_token": round(statistics.median(baseline), 2),
        "median_ms_expired_token": round(statistics.median(storm), 2),
        "max_ms_expired_token": round(max(storm), 2),
    }


async def memory() -> dict[str, Any]:
    """Server RSS before, after LOGINS_MEMORY logins, and with PENDING logins left open."""
    async with stack() as (app, _):
        await login(app)
        start = (await stats(app))["rss_kib"]

        async def worker(count: int) -> None:
            for _ in range(count):
                await (await login(app)).close()

        await asyncio.gather(*(worker(LOGINS_MEMORY // 32) for _ in range(32)))
        after = (await stats(app))["rss_kib"]
        jars = []
        for _ in range(PENDING):  # (no keep-alive: only the logins are pending, no sockets)
            http = aiohttp.ClientSession(
                cookie_jar=aiohttp.CookieJar(unsafe=True),
                connector=aiohttp.TCPConnector(force_close=True),
            )
            async with http.get(f"{app}/auth/login/fake", allow_redirects=False):
                pass
            jars.append(http)
        pending = (await stats(app))["rss_kib"]
        for http in jars:
            await http.close()
    return {
        "rss_mib_start": round(start / 1024, 1),
        f"rss_mib_after_{LOGINS_MEMORY}_logins": round(after / 1024, 1),
        f"rss_mib_with_{PENDING}_pending": round(pending / 1024, 1),
    }
