"""Processes the tests start: the executables they need, free ports, readiness, stopping by PID.

A missing executable fails the test loudly, naming what installs it (it is never skipped).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

#: the repository root (the working directory of ``python -m ...`` subprocesses)
ROOT = Path(__file__).resolve().parents[2]


def require_executable(name: str, missing: str) -> str:
    """The path of the executable ``name`` (a command or a path); a loud failure with the
    message ``missing`` (what installs it) when there is none."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(missing, pytrace=False)
    return found


def free_port() -> int:
    """A TCP port on 127.0.0.1 that the OS just handed out (and we released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(
    probe: Callable[[], T],
    *,
    errors: tuple[type[BaseException], ...],
    process: subprocess.Popen[bytes],
    timeout: float,
    interval: float,
    what: str,
    log: Callable[[], str],
) -> T:
    """Call ``probe`` until it answers without one of ``errors``; the process ``what`` exiting
    meanwhile, or no answer within ``timeout`` seconds, fails the test with its ``log``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return probe()
        except errors:
            if process.poll() is not None:
                pytest.fail(f"{what} exited with {process.returncode}:\n{log()}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{what} did not answer within {timeout:.0f} s:\n{log()}", pytrace=False
                )
            time.sleep(interval)


async def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``condition`` without blocking the event loop until it holds (at most ``timeout``)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def terminate(process: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM, wait, SIGKILL as a last resort (nothing to do when it has exited)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)
