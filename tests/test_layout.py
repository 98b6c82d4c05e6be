"""The package's layout holds what its folders promise (the import-linter contracts in
pyproject.toml say the layering; these check what they cannot express)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

import aiohttp_oauth2_login

PACKAGE = Path(aiohttp_oauth2_login.__file__).parent


def test_no_import_cycle_of_any_kind() -> None:
    """grimp counts every import: top level, inside functions and under TYPE_CHECKING."""
    graph = grimp.build_graph("aiohttp_oauth2_login", cache_dir=None)
    cycles = [
        (importer, imported)
        for importer in graph.modules
        for imported in graph.find_modules_directly_imported_by(importer)
        if graph.chain_exists(imported=importer, importer=imported)
    ]
    assert cycles == []


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_back_channel_never_imports_aiohttp_web() -> None:
    """``_oauth`` is HTTP client code: no request, no response, no application."""
    for path in (PACKAGE / "_oauth").glob("*.py"):
        assert "aiohttp.web" not in _imports(path), path.name


def test_module_sizes() -> None:
    """Small modules with one concern: none of the package's grows past 700 lines."""
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text().splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert max(sizes.values()) <= 700, max(sizes.items(), key=lambda item: item[1])


def test_one_clock() -> None:
    """Every module reads time through ``_clock`` (tests move it there, once); the fake
    provider of the testing kit keeps its own, real clock."""
    readers = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "_clock.py"
        and "_fake" not in path.parts
        and any(call in path.read_text() for call in ("time.time(", "time.monotonic("))
    )
    assert readers == []
