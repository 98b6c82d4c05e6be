"""The pytest plugin never breaks a pytest run (with or without pytest-asyncio, strict or auto
mode, ``-W error``), and ``FakeProvider(issuer="http://127.0.0.1:PORT")`` listens on PORT
(issue 12 §1). The runs are pytest subprocesses of this venv on a project in ``tmp_path``."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import pytest

from aiohttp_oauth2_login.testing import FakeProvider

APP_TESTS = """
import pytest
from aiohttp import web
from aiohttp_oauth2_login import get_client, get_user, login_required, setup_oauth
from aiohttp_oauth2_login.testing import login_as, login_flow, preset_for

KEY = "q7Xw0o2m5Ew3hY8eVnB5kq3P7r8g7Xb7m1j3t8Ue2Gk="


@login_required
async def profile(request):
    user = await get_user(request)
    async with (await get_client(request)).get("user") as resp:
        login = (await resp.json())["login"]
    return web.json_response({"id": user.id, "login": login})


def make_app(fake):
    app = web.Application()
    app.router.add_get("/profile", profile)
    setup_oauth(app, providers=[preset_for(fake)], secret_key=KEY)
    return app


MARK
async def test_login_flow(aiohttp_client, fake_github):
    client = await aiohttp_client(make_app(fake_github))
    assert (await login_flow(client, "github")).status == 303
    assert (await (await client.get("/profile")).json())["login"] == "alice"


MARK
async def test_login_as(aiohttp_client, fake_github):
    client = await aiohttp_client(make_app(fake_github))
    await login_as(client, "bob")
    body = await (await client.get("/profile")).json()
    assert body == {"id": fake_github.user_id("bob"), "login": "bob"}


def test_sync():
    assert True
"""


def run_pytest(
    project: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write_project(path: Path, mode: str, tests: str) -> Path:
    (path / "pytest.ini").write_text(
        f"[pytest]\nasyncio_mode = {mode}\nasyncio_default_fixture_loop_scope = function\n"
    )
    (path / "test_app.py").write_text(textwrap.dedent(tests))
    return path


@pytest.mark.parametrize(("mode", "mark"), [("strict", "@pytest.mark.asyncio"), ("auto", "")])
def test_fixtures_in_strict_and_auto_mode_under_w_error(
    tmp_path: Path, mode: str, mark: str
) -> None:
    project = write_project(tmp_path, mode, APP_TESTS.replace("MARK", mark))
    result = run_pytest(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_without_pytest_asyncio_only_the_fixtures_fail(tmp_path: Path) -> None:
    """Shadow modules that fail to import stand in for a venv without the [testing] extra."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    for name in ("pytest_asyncio", "pytest_aiohttp"):
        (shadow / f"{name}.py").write_text(
            f"raise ModuleNotFoundError('No module named {name}', name='{name}')\n"
        )
    project = tmp_path / "project"
    project.mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "test_other.py").write_text(
        "def test_sync():\n    assert 1 + 1 == 2\n\n\ndef test_kit(fake_github):\n    pass\n"
    )
    env = {"PYTHONPATH": str(shadow), "PATH": "/usr/bin:/bin"}
    result = run_pytest(project, "-p", "no:asyncio", "-p", "no:aiohttp", env=env)
    assert "1 passed, 1 error" in result.stdout, result.stdout + result.stderr
    assert "pip install 'aiohttp-oauth2-login[testing]'" in result.stdout
    assert "Error while loading plugin" not in result.stdout + result.stderr


# ---- the issuer's port ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def discovery_issuer(url: str) -> str:
    async with (
        aiohttp.ClientSession() as http,
        http.get(url + "/.well-known/openid-configuration") as resp,
    ):
        assert resp.status == 200
        issuer: str = (await resp.json())["issuer"]
    return issuer


@pytest.mark.parametrize("path", ["", "/idp", "/realms/main/"])
async def test_an_explicit_issuer_names_the_port(path: str) -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}{path}"
    fake = FakeProvider(issuer=issuer)
    try:
        assert await fake.start() == issuer
        assert await discovery_issuer(issuer.rstrip("/")) == issuer
    finally:
        await fake.stop()


async def test_a_taken_port_is_an_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        fake = FakeProvider(issuer=f"http://127.0.0.1:{port}")
        with pytest.raises(OSError):
            await fake.start()
    assert fake._runner is None


async def test_an_explicit_port_argument() -> None:
    port = free_port()
    fake = FakeProvider()
    try:
        assert await fake.start(port=port) == f"http://127.0.0.1:{port}"
    finally:
        await fake.stop()


async def test_no_issuer_or_a_remote_one_gets_a_free_port() -> None:
    fake = FakeProvider(issuer="https://login.example")  # not a loopback http URL: kept as is
    try:
        assert await fake.start() == "https://login.example"
        assert fake._runner is not None
        port = fake._runner.addresses[0][1]
        assert await discovery_issuer(f"http://127.0.0.1:{port}") == "https://login.example"
    finally:
        await fake.stop()
