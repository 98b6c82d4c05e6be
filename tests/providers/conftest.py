"""Fixtures of the provider preset tests."""

from __future__ import annotations

import pytest

import aiohttp_oauth2_login._clock as plugin_clock

from ._recorded import Clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Move the plugin's clock (``aiohttp_oauth2_login._clock``: token expiry, sessions, ID-token
    checks) without sleeping; the recorded providers mint ID tokens on the same clock."""
    fake = Clock()
    monkeypatch.setattr(plugin_clock, "time", fake)
    return fake
