"""Fixtures of the login tests."""

from __future__ import annotations

import pytest

from ..support.app import Client, MakeClient


@pytest.fixture
async def fast_client(make_client: MakeClient) -> Client:
    """A client whose back-channel timeout is short, so timeout tests stay fast."""
    return await make_client(http_timeout=0.5)
