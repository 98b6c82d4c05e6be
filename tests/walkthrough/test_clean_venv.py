"""The library in clean venvs, as a new user meets it (issue 12 "Done when"): pytest keeps
working without the kit's dependencies, the README's "Testing your app" runs as written under
``-W error``, and a user's own app with the GitHub preset is tested with the public kit alone."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from .conftest import REPO, USER_PROJECT, run

SECTION = "## Testing your app"
BLOCK = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```\n", re.M | re.S)


def readme_blocks() -> list[tuple[str, str]]:
    """(language, code) of every code block in the README's "Testing your app" section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION + "\n")
    end = text.find("\n## ", start + len(SECTION))
    section = text[start : end if end != -1 else len(text)]
    return [(m["lang"], m["body"]) for m in BLOCK.finditer(section)]


def pytest_in(python: Path, project: Path, *args: str) -> tuple[int, str]:
    done = run([python, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=project)
    return done.returncode, done.stdout + done.stderr


def test_pytest_keeps_working_without_the_testing_extra(plain_venv: Path, tmp_path: Path) -> None:
    (tmp_path / "test_other_project.py").write_text("def test_sum():\n    assert 1 + 1 == 2\n")
    code, out = pytest_in(plain_venv, tmp_path, "-q", "-W", "error")
    assert code == 0, out
    assert "1 passed" in out
    # the plugin is loaded all the same, and asking for a fixture says what to install
    (tmp_path / "test_kit.py").write_text("def test_kit(fake_github):\n    pass\n")
    (tmp_path / "test_chaos.py").write_text("def test_chaos(oauth_chaos):\n    pass\n")
    code, out = pytest_in(plain_venv, tmp_path, "-q", "-rE")
    assert code == 1, out
    assert "1 passed, 2 errors" in out
    assert "fixture 'oauth_chaos' not found" not in out
    assert out.count("pip install 'aiohttp-oauth2-login[testing]'") >= 2, out


def test_the_readme_snippet_runs_as_written(testing_venv: Path, tmp_path: Path) -> None:
    blocks = readme_blocks()
    installs = [body for lang, body in blocks if lang == "sh"]
    assert installs and 'pip install "aiohttp-oauth2-login[testing]"' in installs[0]
    written = []
    for lang, body in blocks:
        first = body.splitlines()[0]
        if lang in ("python", "toml") and re.fullmatch(r"# [\w.]+\.(py|toml)", first):
            (tmp_path / first[2:]).write_text(body, encoding="utf-8")
            written.append(first[2:])
    assert {"pyproject.toml", "myapp.py", "test_myapp.py"} <= set(written), written
    code, out = pytest_in(testing_venv, tmp_path, "-q", "-W", "error")
    assert code == 0, out
    assert re.search(r"\b3 passed\b", out), out
    assert "warning" not in out.lower(), out


def test_walkthrough_a_github_app_tested_with_the_public_kit(
    testing_venv: Path, tmp_path: Path
) -> None:
    project = tmp_path / "shop"
    shutil.copytree(USER_PROJECT, project)
    code, out = pytest_in(testing_venv, project, "-v", "-W", "error")
    assert code == 0, out
    passed = re.findall(r"::(\w+) PASSED", out)
    assert len(passed) >= 6 and "test_chaos_with_every_github_failure" in passed, out
    assert "warning" not in out.lower(), out
