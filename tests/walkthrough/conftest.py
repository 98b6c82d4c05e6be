"""Clean-venv fixtures: the package's wheel, built once, and fresh venvs that install it from
PyPI the way a user would (pip's cache is reused; no system site-packages)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
#: the user's project of the walkthrough: copied to a temporary directory, never collected here
USER_PROJECT = Path(__file__).with_name("user_project")
collect_ignore = ["user_project"]


def run(
    args: Sequence[str | Path], *, cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run a command with a clean environment (no PYTHONPATH, no venv of this test run)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return subprocess.run(  # noqa: S603 - our own commands
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def pip_install(python: Path, *requirements: str, cwd: Path) -> None:
    """``pip install`` into a venv; a clear failure when the index cannot be reached."""
    done = run([python, "-m", "pip", "install", "-q", *requirements], cwd=cwd)
    if done.returncode != 0:
        pytest.fail(
            f"pip install {' '.join(requirements)} failed (is PyPI reachable from here?):\n"
            + done.stderr[-3000:],
            pytrace=False,
        )


def make_venv(where: Path) -> Path:
    done = run([sys.executable, "-m", "venv", where], cwd=where.parent)
    assert done.returncode == 0, done.stderr
    return where / "bin" / "python"


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package as users get it: a wheel built from this checkout (hatchling backend)."""
    out = tmp_path_factory.mktemp("wheel")
    done = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, REPO], cwd=out)
    if done.returncode != 0:
        pytest.fail(f"building the wheel failed:\n{done.stderr[-3000:]}", pytrace=False)
    (built,) = out.glob("aiohttp_oauth2_login-*.whl")
    return built


@pytest.fixture(scope="session")
def plain_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A venv with only pytest and the library (no pytest-asyncio, no pytest-aiohttp)."""
    python = make_venv(tmp_path_factory.mktemp("venvs") / "plain")
    pip_install(python, str(wheel), "pytest", cwd=wheel.parent)
    return python


@pytest.fixture(scope="session")
def testing_venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A venv with the library and its ``testing`` extra, as the README says to install it."""
    python = make_venv(tmp_path_factory.mktemp("venvs") / "testing")
    pip_install(python, f"{wheel}[testing]", cwd=wheel.parent)
    return python
