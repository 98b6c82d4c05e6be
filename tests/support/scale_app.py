"""One instance of a scaled-out app: Redis sessions, the fake provider, a protected API route.

Run from the repository root (the scale-out tests start two of these on different ports)::

    python -m tests.support.scale_app --port 0 --redis-url redis://127.0.0.1:6379/0 \\
        --issuer http://127.0.0.1:8080 --client-id test-client --client-secret test-secret

It prints ``READY http://127.0.0.1:<port>`` once it listens and stops cleanly on SIGTERM.
Routes: those of ``tests/support/app.py`` (``/``, ``/private``, ``/view``, ``/auth/...``), plus

- ``GET /api?n=N``  (login required) ``get_client`` calls the provider's ``/api/me`` N times
  concurrently; answers ``{"instance", "statuses", "subs"}``;
- ``GET /health``   no session involved: ``{"instance", "pid"}``;
- ``GET /stats``    how often this instance entered the cross-instance refresh lock.

``--hold-delay S`` makes the refresh lock holder wait S seconds before refreshing (a slow
provider), which makes races between instances deterministic.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiohttp import web

from aiohttp_oauth2_login import get_client, login_required
from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import find_login

from .app import KEY, build_app

INSTANCE = web.AppKey("scale_instance", str)
MAX_CALLS = 50


class CountingLock:
    """Wraps the plugin's ``RedisRefreshLock``: counts entries, optionally holds it longer."""

    def __init__(self, inner: Any, hold_delay: float) -> None:
        self.inner = inner
        self.hold_delay = hold_delay
        self.acquired = 0

    @contextlib.asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[Any]:
        async with self.inner.hold(name) as held:
            self.acquired += 1
            if self.hold_delay:
                await asyncio.sleep(self.hold_delay)
            yield held

    async def aclose(self) -> None:
        await self.inner.aclose()


LOCK = web.AppKey("scale_lock", CountingLock)


@login_required
async def api(request: web.Request) -> web.Response:
    try:
        count = max(1, min(MAX_CALLS, int(request.query.get("n", "1"))))
    except ValueError:
        count = 1
    client = await get_client(request)

    async def one() -> tuple[int, str | None]:
        async with client.get("api/me") as resp:
            body = await resp.json() if resp.status == 200 else {}
            return resp.status, body.get("sub")

    results = await asyncio.gather(*(one() for _ in range(count)))
    return web.json_response(
        {
            "instance": request.app[INSTANCE],
            "statuses": [status for status, _ in results],
            "subs": [sub for _, sub in results],
        }
    )


async def health(request: web.Request) -> web.Response:
    return web.json_response({"instance": request.app[INSTANCE], "pid": os.getpid()})


async def stats(request: web.Request) -> web.Response:
    lock = request.app[LOCK]
    return web.json_response({"instance": request.app[INSTANCE], "lock_acquired": lock.acquired})


def make_app(args: argparse.Namespace) -> web.Application:
    provider = OIDCProvider(
        name="fake",
        issuer=args.issuer,
        client_id=args.client_id,
        client_secret=args.client_secret,
    )
    app = build_app(
        [provider],
        secret_key=KEY,  # the same on every instance: login transactions are cookies
        redis_url=args.redis_url,
        session_lifetime=args.session_lifetime,
    )
    app[INSTANCE] = args.name
    app.router.add_get("/api", api)
    app.router.add_get("/health", health)
    app.router.add_get("/stats", stats)
    login = find_login(app)
    if login.backend.refresh_lock is None:
        raise SystemExit("redis_url did not give a cross-instance refresh lock")
    lock = CountingLock(login.backend.refresh_lock, args.hold_delay)
    login.backend.refresh_lock = lock  # type: ignore[assignment]
    app[LOCK] = lock
    return app


async def serve(args: argparse.Namespace) -> None:
    runner = web.AppRunner(make_app(args), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", args.port).start()
        port = runner.addresses[0][1]
        print(f"READY http://127.0.0.1:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.support.scale_app", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--client-id", default="test-client")
    parser.add_argument("--client-secret", default="test-secret")
    parser.add_argument("--name", default="app")
    parser.add_argument("--session-lifetime", type=int, default=3600)
    parser.add_argument("--hold-delay", type=float, default=0.0)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s {args.name} %(name)s %(levelname)s %(message)s",
    )
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
