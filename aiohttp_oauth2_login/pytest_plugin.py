"""pytest fixtures for testing apps that use aiohttp-oauth2-login (loaded via ``pytest11``).

- ``fake_provider``: a started ``FakeProvider`` (OIDC) on 127.0.0.1 that auto-approves ``alice``;
  ``fake_github``, ``fake_google``, ``fake_facebook``: the same with that provider's personality.
- ``fake_provider_factory``: ``await fake_provider_factory(personality=..., **options)``.
- ``oauth_chaos``: ``await oauth_chaos(client, fake)`` runs the app through every failure mode
  of the fake (``aiohttp_oauth2_login.testing.chaos``).

Build the app with ``preset_for(fake)`` and log in with ``login_flow`` (the real flow) or
``login_as`` (a session without the dance), all from ``aiohttp_oauth2_login.testing``.

Every pytest run in a venv that has this library loads this module, so it must never break one:
it needs only the library's own dependencies and pytest, and without pytest-asyncio (``pip install
aiohttp-oauth2-login[testing]``) its fixtures are still listed but fail with that advice when a
test asks for one. The async fixtures are ``pytest_asyncio.fixture`` s, so they work in
pytest-asyncio's strict mode (pytest-aiohttp's default) as well as in auto mode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import FakeProvider

__all__ = [
    "INSTALL_HINT",
    "fake_facebook",
    "fake_github",
    "fake_google",
    "fake_provider",
    "fake_provider_factory",
    "oauth_chaos",
]

INSTALL_HINT = (
    "the aiohttp-oauth2-login fixtures need pytest-asyncio (and pytest-aiohttp for "
    "aiohttp_client): pip install 'aiohttp-oauth2-login[testing]'"
)

FakeProviderFactory = Callable[..., Awaitable["FakeProvider"]]

try:
    import pytest_asyncio
except ImportError:  # the library without its [testing] extra: fixtures fail only when used
    HAVE_ASYNCIO = False
else:
    HAVE_ASYNCIO = True


if HAVE_ASYNCIO:

    @pytest_asyncio.fixture
    async def fake_provider_factory() -> AsyncIterator[FakeProviderFactory]:
        """Start fake providers on free loopback ports; all are stopped after the test."""
        from .testing import FakeProvider

        started: list[FakeProvider] = []

        async def start(**options: Any) -> FakeProvider:
            fake = FakeProvider(**options)
            await fake.start()
            started.append(fake)
            return fake

        try:
            yield start
        finally:
            for fake in reversed(started):
                await fake.stop()

    @pytest_asyncio.fixture
    async def fake_provider(fake_provider_factory: FakeProviderFactory) -> FakeProvider:
        """A started fake OIDC provider that auto-approves logins as ``alice``."""
        return await fake_provider_factory(auto_approve=True)

    @pytest_asyncio.fixture
    async def fake_github(fake_provider_factory: FakeProviderFactory) -> FakeProvider:
        """A started fake GitHub (OAuth app, REST API) that auto-approves ``alice``."""
        return await fake_provider_factory(personality="github", auto_approve=True)

    @pytest_asyncio.fixture
    async def fake_google(fake_provider_factory: FakeProviderFactory) -> FakeProvider:
        """A started fake Google (OIDC with Google's quirks) that auto-approves ``alice``."""
        return await fake_provider_factory(personality="google", auto_approve=True)

    @pytest_asyncio.fixture
    async def fake_facebook(fake_provider_factory: FakeProviderFactory) -> FakeProvider:
        """A started fake Facebook (Login dialog, Graph API) that auto-approves ``alice``."""
        return await fake_provider_factory(personality="facebook", auto_approve=True)

    from .testing.chaos import oauth_chaos

else:

    def _missing() -> Any:
        pytest.fail(INSTALL_HINT, pytrace=False)

    @pytest.fixture
    def fake_provider_factory() -> Any:
        """Unavailable: pytest-asyncio is not installed (see ``INSTALL_HINT``)."""
        return _missing()

    @pytest.fixture
    def fake_provider() -> Any:
        """Unavailable: pytest-asyncio is not installed (see ``INSTALL_HINT``)."""
        return _missing()

    @pytest.fixture
    def fake_github() -> Any:
        """Unavailable: pytest-asyncio is not installed (see ``INSTALL_HINT``)."""
        return _missing()

    @pytest.fixture
    def fake_google() -> Any:
        """Unavailable: pytest-asyncio is not installed (see ``INSTALL_HINT``)."""
        return _missing()

    @pytest.fixture
    def fake_facebook() -> Any:
        """Unavailable: pytest-asyncio is not installed (see ``INSTALL_HINT``)."""
        return _missing()

    @pytest.fixture
    def oauth_chaos() -> Any:
        """Unavailable: pytest-asyncio is not installed (see ``INSTALL_HINT``)."""
        return _missing()
