"""Fixtures of the provider preset tests."""

from __future__ import annotations

import pytest

import aiohttp_oauth2_login.client as client_module
import aiohttp_oauth2_login.tokens as tokens_module

from ._recorded import Clock


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Move the clock of token expiry (when tokens are issued and when the authenticated client
    checks them) without sleeping; sessions and ID-token checks keep the real time."""
    fake = Clock()
    monkeypatch.setattr(client_module, "time", fake)
    monkeypatch.setattr(tokens_module, "time", fake)
    return fake
