"""Login cost and rate, refresh storm and memory, against the fake provider on the other core.

The app runs on core 0; the fake provider and this process (the load: browser-like logins) share
core 1. ``Scale`` holds the sizes; ``--quick`` uses ``Scale.quick()``.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from bench.run import cpu_seconds, free_port, process, wait_ready


@dataclass(frozen=True)
class Scale:
    """How many logins each flow measurement makes."""

    logins_sequential: int = 300
    rate_logins_per_worker: int = 50
    concurrency: int = 16
    memory_logins: int = 100_000
    memory_sample_every: int = 10_000
    pending: int = 10_000
    traced_logins: int = 2_000
    storm: int = 100

    @classmethod
    def quick(cls) -> Scale:
        return cls(
            logins_sequential=100,
            rate_logins_per_worker=15,
            memory_logins=10_000,
            memory_sample_every=1_000,
            pending=1_000,
            traced_logins=300,
        )


@dataclass(frozen=True)
class Stack:
    app: str
    issuer: str
    app_pid: int
    fake_pid: int


@asynccontextmanager
async def stack(*, traced: bool = False) -> AsyncIterator[Stack]:
    """The fake provider (core 1) and the app (core 0), the app tracing allocations if asked."""
    fake_port, app_port = free_port(), free_port()
    issuer = f"http://127.0.0.1:{fake_port}"
    env = {"BENCH_TRACEMALLOC": "1"} if traced else None
    app_argv = [sys.executable, "-m", "bench.servers", "app", str(app_port), issuer]
    with (
        process([sys.executable, "-m", "bench.servers", "fake", str(fake_port)], core=1) as fake,
        process(app_argv, core=0, env=env) as app,
    ):
        await wait_ready(f"{issuer}/.well-known/openid-configuration")
        await wait_ready(f"http://127.0.0.1:{app_port}/bare")
        yield Stack(f"http://127.0.0.1:{app_port}", issuer, app.pid, fake.pid)


def browser() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def login(app: str, http: aiohttp.ClientSession | None = None) -> aiohttp.ClientSession:
    """One complete login like a browser; returns the session holding the cookie."""
    http = http or browser()
    async with http.get(f"{app}/auth/login/fake", allow_redirects=False) as start:
        authorize = start.headers["Location"]
    async with http.get(authorize, allow_redirects=False) as approved:
        callback = approved.headers["Location"]
    async with http.get(f"{app}{URL(callback).path_qs}", allow_redirects=False) as done:
        if done.status != 303:
            raise RuntimeError(f"login failed: {done.status}")
    return http


async def stats(app: str, *, collect: bool = False, snapshot: bool = False) -> dict[str, Any]:
    query = {"gc": "1"} if collect else {}
    query.update({"snapshot": "1"} if snapshot else {})
    async with aiohttp.ClientSession() as http, http.get(f"{app}/__stats", params=query) as resp:
        result: dict[str, Any] = await resp.json()
        return result


async def login_cost(scale: Scale) -> dict[str, Any]:
    """Plugin CPU per login (sequential: the server's CPU over N logins minus the two bare
    requests' worth the same flow costs any app; one keep-alive browser, like the bare requests)
    and logins/s at ``concurrency`` browsers, with each process's share of its core during that
    run (what bounds the rate)."""
    async with stack() as st:
        app = st.app
        for _ in range(5):  # warm-up: discovery, JWKS, imports
            await (await login(app)).close()
        async with aiohttp.ClientSession() as http:
            before = await stats(app)
            for _ in range(2000):
                async with http.get(f"{app}/bare") as resp:
                    await resp.read()
            after = await stats(app)
        bare_ms = (after["cpu"] - before["cpu"]) / 2000 * 1000
        before = await stats(app)
        await many_logins(app, scale.logins_sequential, concurrency=1)
        after = await stats(app)
        per_login_ms = (after["cpu"] - before["cpu"]) / scale.logins_sequential * 1000

        total = scale.concurrency * scale.rate_logins_per_worker
        cpu = (cpu_seconds(st.app_pid), cpu_seconds(st.fake_pid), time.process_time())
        started = time.perf_counter()
        await many_logins(app, total, concurrency=scale.concurrency)
        wall = time.perf_counter() - started
        used = (
            cpu_seconds(st.app_pid) - cpu[0],
            cpu_seconds(st.fake_pid) - cpu[1],
            time.process_time() - cpu[2],
        )
    return {
        "server_cpu_ms_per_login": round(per_login_ms, 3),
        "bare_request_cpu_ms": round(bare_ms, 3),
        "plugin_cpu_ms_per_login": round(per_login_ms - 2 * bare_ms, 3),
        f"logins_per_s_{scale.concurrency}_concurrent": round(total / wall, 1),
        "rate_app_core0_busy": round(used[0] / wall, 2),
        "rate_fake_core1_busy": round(used[1] / wall, 2),
        "rate_load_core1_busy": round(used[2] / wall, 2),
        "rate_app_cpu_ms_per_login": round(used[0] / total * 1000, 3),
        "rate_fake_cpu_ms_per_login": round(used[1] / total * 1000, 3),
        "rate_load_cpu_ms_per_login": round(used[2] / total * 1000, 3),
    }


async def refresh_storm(scale: Scale) -> dict[str, Any]:
    """``storm`` concurrent requests of one session with an expired token: refreshes, latency."""
    async with stack() as st:
        app, issuer = st.app, st.issuer
        http = await login(app)

        async def burst() -> list[float]:
            async def one() -> float:
                started = time.perf_counter()
                async with http.get(f"{app}/storm", headers={"Accept": "application/json"}) as r:
                    if r.status != 200 or (await r.json())["status"] != 200:
                        raise RuntimeError(f"storm request failed: {r.status}")
                return (time.perf_counter() - started) * 1000

            return list(await asyncio.gather(*(one() for _ in range(scale.storm))))

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
        "concurrent_requests": scale.storm,
        "refresh_requests": refreshes,
        "median_ms_fresh_token": round(statistics.median(baseline), 2),
        "median_ms_expired_token": round(statistics.median(storm), 2),
        "max_ms_expired_token": round(max(storm), 2),
    }


async def many_logins(app: str, count: int, concurrency: int = 16) -> None:
    """``count`` complete logins by ``concurrency`` keep-alive browsers that forget their
    cookies after each login."""

    async def worker(n: int) -> None:
        async with browser() as http:
            for _ in range(n):
                http.cookie_jar.clear()
                await login(app, http)

    share, extra = divmod(count, concurrency)
    await asyncio.gather(*(worker(share + (i < extra)) for i in range(concurrency)))


async def start_pending(app: str, count: int, concurrency: int = 16) -> None:
    """``count`` logins started and never finished (the browser keeps the transaction cookie)."""

    async def worker(n: int) -> None:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            for _ in range(n):
                async with http.get(f"{app}/auth/login/fake", allow_redirects=False) as resp:
                    if resp.status not in (302, 303) or not resp.headers.getall("Set-Cookie"):
                        raise RuntimeError(f"login start failed: {resp.status}")

    share, extra = divmod(count, concurrency)
    await asyncio.gather(*(worker(share + (i < extra)) for i in range(concurrency)))


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    return statistics.linear_regression(xs, ys).slope if len(xs) > 1 else 0.0


async def memory(scale: Scale) -> dict[str, Any]:
    """RSS and live objects sampled every ``memory_sample_every`` logins (slopes per 10⁴
    logins, also over the second half: the replay memory of consumed states fills up to its
    bound in the first 10⁴), then with ``pending`` unfinished logins; then the same with
    tracemalloc on in a fresh process: bytes kept per login and per pending transaction, the
    peak, and the lines whose allocations grew most over the logins."""
    every = scale.memory_sample_every
    async with stack() as st:
        await many_logins(st.app, 500)  # warm-up: caches, pools, allocator arenas
        samples = [await stats(st.app, collect=True)]
        for _ in range(scale.memory_logins // every):
            await many_logins(st.app, every)
            samples.append(await stats(st.app, collect=True))
        await start_pending(st.app, scale.pending)
        pending = await stats(st.app, collect=True)
    done = [i * every for i in range(len(samples))]
    rss = [s["rss_kib"] for s in samples]
    objects = [s["objects"] for s in samples]
    result: dict[str, Any] = {
        "logins": scale.memory_logins,
        "rss_mib_samples": [round(r / 1024, 1) for r in rss],
        "rss_kib_per_10k_logins": round(_slope(done, rss) * 10_000, 1),
        "rss_kib_per_10k_logins_second_half": round(
            _slope(done[len(done) // 2 :], rss[len(rss) // 2 :]) * 10_000, 1
        ),
        "objects_per_10k_logins": round(_slope(done, objects) * 10_000, 1),
        "objects_per_10k_logins_second_half": round(
            _slope(done[len(done) // 2 :], objects[len(objects) // 2 :]) * 10_000, 1
        ),
        "pending": scale.pending,
        "rss_kib_added_by_pending": pending["rss_kib"] - rss[-1],
        "objects_added_by_pending": pending["objects"] - objects[-1],
    }
    async with stack(traced=True) as st:
        await many_logins(st.app, 200)
        base = await stats(st.app, collect=True, snapshot=True)
        await many_logins(st.app, scale.traced_logins)
        after = await stats(st.app, collect=True, snapshot=True)
        await start_pending(st.app, scale.pending)
        pending = await stats(st.app, collect=True)
    result.update(
        {
            "traced_logins": scale.traced_logins,
            "traced_bytes_kept_per_login": round(
                (after["traced"] - base["traced"]) / scale.traced_logins, 1
            ),
            "traced_bytes_kept_per_pending": round(
                (pending["traced"] - after["traced"]) / scale.pending, 1
            ),
            "traced_top_growth_over_logins": after.get("growth", []),
            "traced_peak_mib": round(pending["traced_peak"] / 2**20, 2),
            "traced_mib_end": round(pending["traced"] / 2**20, 2),
        }
    )
    return result
