"""The docs stay true to the code: citations resolve, every page is reachable, every option is
documented, and every Python example at least compiles with names the package really exports.

`make docs` builds the site with warnings as errors (broken references, pages outside the
toctree); these checks run with the test suite, without Sphinx.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aiohttp_oauth2_login import setup_oauth

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


def test_quickstart_runs_as_written(tmp_path: Path) -> None:
    """The quickstart's app.py, test_app.py and pytest.ini, written out as they stand on the
    page, pass in a pytest of their own, warnings as errors (no hidden configuration)."""
    text = (DOCS / "quickstart.md").read_text(encoding="utf-8")
    written = []
    for code in re.findall(r"^```(?:python|ini)\n(.*?)^```", text, re.S | re.M):
        name = re.fullmatch(r"# (\w+\.(?:py|ini))", code.splitlines()[0])
        if name:
            (tmp_path / name.group(1)).write_text(code, encoding="utf-8")
            written.append(name.group(1))
    assert sorted(written) == ["app.py", "pytest.ini", "test_app.py"]
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
