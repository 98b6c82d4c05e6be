"""Fixtures of the e2e suite: real authorization servers, apps on real ports, a browser.

The peers run once per test session, each in its own process on a port the OS picked, and are
stopped by PID at the end (also when a test fails). Tests never skip because a peer or the
browser is missing: that is a failure naming the make target that installs it.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from ._harness import (
    E2E,
    Browser,
    BuildApp,
    Peer,
    Served,
    require_node_peers,
    serve,
    start_peer,
)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the item (``item.report_call``), so that a fixture's teardown
    can tell whether the test failed (test_browser.py then saves screenshots)."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[Peer]:
    """panva oidc-provider 9.13.3 (see oidc_provider_server.mjs)."""
    node = require_node_peers()
    peer = start_peer("oidc-provider", [node, str(E2E / "oidc_provider_server.mjs")])
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture(scope="session")
def mock_server() -> Iterator[Peer]:
    """axa-group oauth2-mock-server 8.2.3 with a control endpoint (oauth2_mock_server.mjs)."""
    node = require_node_peers()
    peer = start_peer("oauth2-mock-server", [node, str(E2E / "oauth2_mock_server.mjs")])
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture(scope="session")
def authlib_server() -> Iterator[Peer]:
    """The Authlib + Flask provider of authlib_server.py, in a subprocess."""
    peer = start_peer("authlib", [sys.executable, str(E2E / "authlib_server.py")])
    try:
        yield peer
    finally:
        peer.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A browser-like HTTP client with its own cookie jar."""
    b = Browser()
    try:
        yield b
    finally:
        await b.close()


@pytest.fixture
async def start_app() -> AsyncIterator[Any]:
    """``await start_app(build)``: serve ``await build(origin)`` on a free port for this test."""
    running: list[Served] = []

    async def start(build: BuildApp) -> Served:
        served = await serve(build)
        running.append(served)
        return served

    try:
        yield start
    finally:
        for served in reversed(running):
            await served.runner.cleanup()
