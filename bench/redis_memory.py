"""Redis memory per session: 10⁴ real sessions written by the plugin's Redis storage.

``python -m bench.redis_memory`` starts a private redis-server on a free loopback port, writes
``N`` sessions of a GitHub-sized and of a Google-sized login through
``RedisSessionStorage.save_session`` and reports ``INFO memory``'s ``used_memory`` growth per
session (the figures of docs/scale.md).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time

import redis
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from aiohttp_oauth2_login._sessions.redis import redis_storage
from aiohttp_oauth2_login._sessions.schema import NAMESPACE, login_payload

from .apps import token_set
from .run import free_port

N = 10_000


async def fill(url: str, kind: str, keep_id_token: bool) -> int:
    """Write ``N`` sessions of ``kind``; the stored size of one value in bytes."""
    storage = redis_storage(
        url, max_age=30 * 86400, secure=True, cookie_name="__Host-aiohttp_oauth2"
    )
    storage.bind("/auth/login")
    request = make_mocked_request("GET", "/")
    provider = "github" if kind == "github" else "google"
    for _ in range(N):
        user, token = token_set(kind)
        session = await storage.new_session()
        session[NAMESPACE] = login_payload(
            user=user, provider=provider, token=token, scope="/auth", keep_id_token=keep_id_token
        )
        await storage.save_session(request, web.Response(), session)
    client = redis.Redis.from_url(url)
    try:
        key = next(iter(client.scan_iter(count=10)))
        return int(client.strlen(key))
    finally:
        client.close()
        await storage.redis.aclose()


def main() -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    with tempfile.TemporaryDirectory() as workdir:
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", workdir]
        server = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        try:
            client = redis.Redis(port=port)
            for _ in range(200):  # bounded wait for the server to accept connections
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    time.sleep(0.05)
            print("| token set | stored value | Redis memory per session | sessions per GiB |")
            print("|---|---|---|---|")
            for kind, keep_id_token in (("github", False), ("google", True)):
                client.flushall()
                before = int(client.info("memory")["used_memory"])
                value = asyncio.run(fill(url, kind, keep_id_token))
                grown = int(client.info("memory")["used_memory"]) - before
                if client.dbsize() != N:
                    sys.exit(f"expected {N} sessions, found {client.dbsize()}")
                per = grown / N
                print(f"| {kind}-sized | {value} B | {per:,.0f} B | {2**30 / per:,.0f} |")
            client.close()
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
