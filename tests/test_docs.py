"""The docs stay true to the code: citations resolve, every page is reachable, every option is
documented, and every Python example at least compiles with names the package really exports.

`make docs` builds the site with warnings as errors (broken references, pages outside the
toctree); these checks run with the test suite, without Sphinx.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from aiohttp_oauth2_login import generate_key, setup_oauth
from aiohttp_oauth2_login.testing import FakeProvider, login_as, preset_for

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SECURITY = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
#: documents that live outside the repository: a reader of the code cannot open them
OUTSIDE = ("DESIGN.md", "PEERS.md", "STYLE.md", "ARCHITECTURE-REVIEW.md", "../shared")
CITATION = re.compile(r"\b([GL])(\d{1,2})\b")


def sources() -> list[Path]:
    """The package's and the tests' Python files."""
    files = [*(ROOT / "aiohttp_oauth2_login").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    return sorted(p for p in files if "node_modules" not in p.parts)


def pages() -> list[Path]:
    return sorted(p for p in DOCS.glob("*.md"))


def python_blocks(text: str) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)


def test_security_md_defines_ids() -> None:
    defined = set(re.findall(r"\*\*([GL]\d+) ·", SECURITY))
    assert {"G1", "G22", "L1", "L8"} <= defined


def test_every_cited_guarantee_exists() -> None:
    defined = set(re.findall(r"\*\*([GL]\d+) ·", SECURITY))
    missing = {}
    for path in [*sources(), *pages()]:
        for kind, number in CITATION.findall(path.read_text(encoding="utf-8")):
            if f"{kind}{number}" not in defined:
                missing.setdefault(f"{kind}{number}", []).append(str(path.relative_to(ROOT)))
    assert not missing, f"cited but not in SECURITY.md: {missing}"


def test_no_reference_to_documents_outside_the_repository() -> None:
    checked = [
        *sources(),
        *pages(),
        *(ROOT / "example_app").rglob("*.py"),
        *(ROOT / "bench").rglob("*.py"),
        *(ROOT / "CHANGES").glob("*"),
        ROOT / "README.md",
        ROOT / "SECURITY.md",
    ]
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in checked
        for name in OUTSIDE
        if path.is_file()
        and path != Path(__file__)  # the list of names above
        and name in path.read_text(encoding="utf-8")
    ]
    assert not found


def toctree_entries() -> set[str]:
    """Every document named in a ``{toctree}`` of any page."""
    entries: set[str] = set()
    for page in pages():
        for block in re.findall(r"```\{toctree\}\n(.*?)```", page.read_text(), re.S):
            entries.update(
                line.strip() for line in block.splitlines() if line.strip() and ":" not in line
            )
    return entries


def test_every_page_is_in_the_toctree() -> None:
    names = {p.stem for p in pages()} - {"index"}
    assert names - toctree_entries() == set(), "pages no toctree lists"
    assert toctree_entries() - names == set(), "toctree entries without a page"


def test_every_setup_option_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text(encoding="utf-8")
    options = text.split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"^`(\w+)`", options, re.M))
    parameters = set(inspect.signature(setup_oauth).parameters) - {"app"}
    assert parameters - documented == set(), "setup_oauth options missing in configuration.md"
    assert documented - parameters == set(), "configuration.md documents options that are gone"


@pytest.mark.parametrize("page", [p.name for p in pages()])
def test_examples_compile_and_import_real_names(page: str) -> None:
    for code in python_blocks((DOCS / page).read_text(encoding="utf-8")):
        tree = ast.parse(code, filename=f"docs/{page}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "aiohttp_oauth2_login"
            ):
                module = importlib.import_module(node.module or "")
                for alias in node.names:
                    assert hasattr(module, alias.name), f"{page}: {node.module}.{alias.name}"


def test_security_page_includes_security_md() -> None:
    assert "{include} ../SECURITY.md" in (DOCS / "security.md").read_text(encoding="utf-8")


def write_named_blocks(page: Path, where: Path) -> list[str]:
    """Write every code block of ``page`` whose first line is ``# <file name>`` to ``where``
    (the first block of each name wins); the names written."""
    written: list[str] = []
    text = page.read_text(encoding="utf-8")
    for code in re.findall(r"^```(?:python|ini|toml)\n(.*?)^```", text, re.S | re.M):
        name = re.fullmatch(r"# ([\w.]+\.(?:py|ini|toml))", code.splitlines()[0])
        if name and name.group(1) not in written:
            (where / name.group(1)).write_text(code, encoding="utf-8")
            written.append(name.group(1))
    return sorted(written)


def pytest_in(where: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A pytest of its own in ``where``, warnings as errors (no hidden configuration)."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=where,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_quickstart_runs_as_written(tmp_path: Path) -> None:
    """The quickstart's app.py, test_app.py and pytest.ini, written out as they stand on the
    page, pass, even with a production ``PUBLIC_URL`` in the environment."""
    written = write_named_blocks(DOCS / "quickstart.md", tmp_path)
    assert written == ["app.py", "pytest.ini", "test_app.py"]
    done = pytest_in(tmp_path, PUBLIC_URL="https://app.example.com")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_testing_page_first_test_passes_its_own_chaos_test(tmp_path: Path) -> None:
    """testing.md's myapp.py and test_myapp.py with its pyproject.toml: the real login,
    login_as, and the chaos run of every GitHub failure mode, all green under -W error."""
    written = write_named_blocks(DOCS / "testing.md", tmp_path)
    assert written == ["myapp.py", "pyproject.toml", "test_myapp.py"]
    done = pytest_in(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout
    assert "test_chaos" in (tmp_path / "test_myapp.py").read_text(encoding="utf-8")


@pytest.mark.parametrize("source", ["README.md", "docs/index.md"])
def test_fifteen_line_app_builds_as_pasted(source: str, tmp_path: Path) -> None:
    """The front page's app with the environment its ``sh`` block exports: setup_oauth accepts
    it (``web.run_app`` is replaced by a stub, so nothing listens)."""
    text = (ROOT / source).read_text(encoding="utf-8")
    section = text.split("## Quickstart" if source == "README.md" else "## Fifteen lines", 1)[1]
    exports = re.search(r"^```sh\n(.*?)^```", section, re.S | re.M)
    code = re.search(r"^```python\n(.*?)^```", section, re.S | re.M)
    assert exports and code
    assert re.findall(r"^export (\w+)=", exports.group(1), re.M) == [
        "GITHUB_CLIENT_ID",
        "SECRET_KEY",
        "PUBLIC_URL",
    ]
    (tmp_path / "app.py").write_text(code.group(1), encoding="utf-8")
    stub = (
        "import aiohttp.web as w\n"
        "w.run_app = lambda app, **kw: print('would serve', type(app).__name__, kw)\n"
        "exec(compile(open('app.py').read(), 'app.py', 'exec'))\n"
    )
    env = {
        "GITHUB_CLIENT_ID": "Iv1.0123456789abcdef",
        "GITHUB_CLIENT_SECRET": "a-client-secret-for-the-docs-test",
        "SECRET_KEY": generate_key(),
        "PUBLIC_URL": "http://127.0.0.1:8080",
    }
    done = subprocess.run(
        [sys.executable, "-W", "error", "-c", stub],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "would serve Application {'host': '127.0.0.1', 'port': 8080}" in done.stdout


def block_with(page: str, marker: str) -> dict[str, Any]:
    """Run the one Python block of ``page`` that contains ``marker``; its namespace."""
    (code,) = [c for c in python_blocks((DOCS / page).read_text(encoding="utf-8")) if marker in c]
    namespace: dict[str, Any] = {}
    exec(compile(code, f"docs/{page}", "exec"), namespace)  # noqa: S102 - the docs' own example
    return namespace


async def test_pages_login_context_example(aiohttp_client: Any, fake_github: FakeProvider) -> None:
    """pages.md's ``home``: buttons for a visitor, the provider's title once signed in."""
    home = block_with("pages.md", "async def home(")["home"]
    app = web.Application()
    app.router.add_get("/", home)
    setup_oauth(app, providers=[preset_for(fake_github)], secret_key=generate_key())
    client = await aiohttp_client(app)
    assert "Sign in with GitHub" in await (await client.get("/")).text()
    await login_as(client, "bob")
    page = await (await client.get("/", headers={"Accept-Language": "de"})).text()
    assert page.startswith("Angemeldet über GitHub <form")  # the title, not the name "github"
    assert 'action="/auth/logout"' in page


async def test_client_handler_example(aiohttp_client: Any, fake_github: FakeProvider) -> None:
    """client.md's handler: the user's GitHub profile, and a 502 (not a 500) once GitHub answers
    401 to a token that has no refresh token to renew it."""
    github_user = block_with("client.md", "async def github_user(")["github_user"]
    app = web.Application()
    app.router.add_get("/github", github_user)
    setup_oauth(app, providers=[preset_for(fake_github)], secret_key=generate_key())
    client = await aiohttp_client(app)
    await login_as(client, "bob")
    resp = await client.get("/github")
    assert resp.status == 200
    assert (await resp.json())["login"] == "bob"
    fake_github.expire_access_tokens()
    resp = await client.get("/github")
    assert resp.status == 502
    assert await resp.json() == {"error": "GitHub is unavailable"}
