"""pytest fixtures for testing apps that use aiohttp-oauth2-login (loaded via ``pytest11``).

- ``fake_provider``: a started ``FakeProvider`` on 127.0.0.1 that auto-approves as ``alice``.
- ``fake_provider_factory``: ``await fake_provider_factory(**options)`` for more of them.

Build the app with ``oidc_provider_for(fake_provider)`` and log in with ``login_flow`` (the real
flow) or ``login_as`` (a session without the dance), both from ``aiohttp_oauth2_login.testing``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest_asyncio

from .testing import FakeProvider

__all__ = ["fake_provider", "fake_provider_factory"]

FakeProviderFactory = Callable[..., Awaitable[FakeProvider]]


@pytest_asyncio.fixture
async def fake_provider_factory() -> AsyncIterator[FakeProviderFactory]:
    """Start fake providers on free loopback ports; all are stopped after the test."""
    started: list[FakeProvider] = []

    async def start(**options: Any) -> FakeProvider:
        fake = FakeProvider(**options)
        await fake.start()
        started.append(fake)
        return fake

    yield start
    for fake in started:
        await fake.stop()


@pytest_asyncio.fixture
async def fake_provider(fake_provider_factory: FakeProviderFactory) -> FakeProvider:
    """A started fake OIDC provider that auto-approves logins as ``alice``."""
    return await fake_provider_factory(auto_approve=True)
