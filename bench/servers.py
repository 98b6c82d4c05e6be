"""Processes for the flow benchmarks: the fake provider and an app signed in through it.

``python -m bench.servers fake PORT`` / ``python -m bench.servers app PORT ISSUER``. With
``BENCH_TRACEMALLOC=1`` the app traces its allocations (``/__stats`` then reports them).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import time
import tracemalloc

from aiohttp import web

from aiohttp_oauth2_login import get_client, login_required, setup_oauth
from aiohttp_oauth2_login.testing import FakeProvider, oidc_provider_for
from bench.apps import KEY


def fake_app(port: int) -> web.Application:
    fake = FakeProvider(issuer=f"http://127.0.0.1:{port}", auto_approve=True)
    app = fake.make_app()

    async def calls(request: web.Request) -> web.Response:
        return web.json_response(dict(fake.calls))

    async def expire(request: web.Request) -> web.Response:
        fake.expire_access_tokens()
        return web.json_response({"ok": True})

    app.router.add_get("/__calls", calls)
    app.router.add_post("/__expire", expire)
    return app


def _rss_kib() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def login_app(issuer: str) -> web.Application:
    fake = FakeProvider(issuer=issuer)  # only its client credentials are used here
    app = web.Application()
    setup_oauth(app, providers=[oidc_provider_for(fake)], secret_key=KEY)

    @login_required
    async def storm(request: web.Request) -> web.Response:
        client = await get_client(request)
        async with client.get("api/me") as resp:
            return web.json_response({"status": resp.status})

    async def bare(request: web.Request) -> web.Response:
        return web.Response(body=b'{"ok":true}', content_type="application/json")

    async def stats(request: web.Request) -> web.Response:
        """CPU time and RSS; ``?gc=1`` adds live objects and traced bytes after a collection."""
        result: dict[str, object] = {"cpu": time.process_time(), "rss_kib": _rss_kib()}
        if request.query.get("gc"):
            gc.collect()
            result["objects"] = len(gc.get_objects())
            if tracemalloc.is_tracing():
                result["traced"], result["traced_peak"] = tracemalloc.get_traced_memory()
        if request.query.get("snapshot") and tracemalloc.is_tracing():
            snapshot = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(False, tracemalloc.__file__)]
            )
            if snapshots:
                top = snapshot.compare_to(snapshots[-1], "lineno")[:6]
                return web.json_response({**result, "growth": [str(stat) for stat in top]})
            snapshots.append(snapshot)
        return web.json_response(result)

    snapshots: list[tracemalloc.Snapshot] = []
    app.router.add_get("/storm", storm)
    app.router.add_get("/bare", bare)
    app.router.add_get("/__stats", stats)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=("fake", "app"))
    parser.add_argument("port", type=int)
    parser.add_argument("issuer", nargs="?")
    args = parser.parse_args()
    if args.kind == "app" and os.environ.get("BENCH_TRACEMALLOC"):
        tracemalloc.start()
    app = fake_app(args.port) if args.kind == "fake" else login_app(args.issuer)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
