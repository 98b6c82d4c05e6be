import pytest
from shop.app import create_app

from aiohttp_oauth2_login import generate_key
from aiohttp_oauth2_login.testing import preset_for


@pytest.fixture
async def client(aiohttp_client, fake_github):
    """The shop, signing in through a fake GitHub (started by the library's fixture)."""
    return await aiohttp_client(create_app([preset_for(fake_github)], secret_key=generate_key()))
