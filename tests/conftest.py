"""Shared fixtures: a fake provider, and a small app protected by the plugin."""

from __future__ import annotations

from typing import Any

import pytest

from aiohttp_oauth2_login import _lograte
from aiohttp_oauth2_login.testing import FakeProvider, oidc_provider_for

from .support.app import Client, MakeClient, build_app
from .support.redis_peer import persistent_redis, redis_server, replayer  # noqa: F401 - fixtures


@pytest.fixture(autouse=True)
def _fresh_warning_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no WARNING spent (``_lograte``: one per reason a minute)."""
    monkeypatch.setattr(_lograte, "_LAST_WARNING", {})


@pytest.fixture
def fake(fake_provider: FakeProvider) -> FakeProvider:
    return fake_provider


@pytest.fixture
async def make_client(aiohttp_client: Any, fake: FakeProvider) -> MakeClient:
    """``await make_client(**setup_oauth options)``: a test client for ``build_app``."""

    async def make(providers: list[Any] | None = None, **options: Any) -> Client:
        app = build_app(providers or [oidc_provider_for(fake)], **options)
        client: Client = await aiohttp_client(app)
        return client

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> Client:
    return await make_client()
