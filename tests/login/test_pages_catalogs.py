"""Every text a visitor can see has a translation in every built-in language.

The texts are enumerated, not listed by hand: the ``title``, ``description`` and ``hint`` of
every error class, the hints of every reason code, every description or hint given to an error
in the package's source (f-strings included: their translation must match any value), and the
pages' own texts. A new English text without translations fails here, naming it.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import aiohttp_oauth2_login
from aiohttp_oauth2_login import errors
from aiohttp_oauth2_login._pages import PAGE_TEXTS
from aiohttp_oauth2_login._pages.catalogs import BUILTIN
from aiohttp_oauth2_login._pages.i18n import BUILTIN_CATALOGS

PACKAGE = Path(aiohttp_oauth2_login.__file__).parent
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: what a formatted value of an f-string stands for when its translation is looked up
SAMPLE = "'sample-value'"
TEXT_ATTRIBUTES = ("title", "description", "hint")


def _import_all() -> None:
    for module in pkgutil.walk_packages([str(PACKAGE)], "aiohttp_oauth2_login."):
        if module.name.endswith("__main__"):
            continue
        importlib.import_module(module.name)


def _shown_error_classes() -> list[type[errors.OAuthLoginError]]:
    """Every error class a page can show (configuration errors are for developers only)."""
    _import_all()
    found: list[type[errors.OAuthLoginError]] = []
    todo: list[type[errors.OAuthLoginError]] = [errors.OAuthLoginError]
    while todo:
        cls = todo.pop()
        if issubclass(cls, errors.ConfigurationError):
            continue
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _text_of(node: ast.expr | None, assigned: dict[str, ast.expr]) -> str | None:
    """A string expression as text: formatted values and non-literal parts become ``SAMPLE``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            part.value if isinstance(part, ast.Constant) else SAMPLE for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left = _text_of(node.left, assigned)
        right = _text_of(node.right, assigned)
        if left is None and right is None:
            return None
        return (left or SAMPLE) + (right or SAMPLE)
    if isinstance(node, ast.Name) and node.id in assigned:
        return _text_of(assigned.pop(node.id), assigned)
    return None


def _source_texts(class_names: set[str]) -> Iterator[tuple[str, str]]:
    """(where, text) of each description or hint the package's source gives an error."""
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text())
        assigned = {
            target.id: node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        where = str(path.relative_to(PACKAGE.parent))
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Attribute):
                if node.targets[0].attr in TEXT_ATTRIBUTES:
                    text = _text_of(node.value, {})
                    if text is not None:
                        yield f"{where}:{node.lineno}", text
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in class_names:
                continue
            given = [*node.args[:1]] + [k.value for k in node.keywords if k.arg in TEXT_ATTRIBUTES]
            for expr in given:
                text = _text_of(expr, dict(assigned))
                if text is not None:
                    yield f"{where}:{node.lineno}", text


def visitor_texts() -> dict[str, str]:
    """Every English text a visitor may see, with where it comes from."""
    classes = _shown_error_classes()
    texts: dict[str, str] = {}
    for cls in classes:
        for attr in TEXT_ATTRIBUTES:
            value = getattr(cls, attr, None)
            if isinstance(value, str):
                texts.setdefault(value, f"{cls.__name__}.{attr}")
    for code, reason in getattr(errors, "REASONS", {}).items():
        if reason.hint is not None:
            texts.setdefault(reason.hint, f"REASONS[{code!r}].hint")
    for where, text in _source_texts({cls.__name__ for cls in classes}):
        texts.setdefault(text, where)
    for text in PAGE_TEXTS:
        texts.setdefault(PLACEHOLDER.sub(SAMPLE, text), "PAGE_TEXTS")
    return texts


def test_the_enumeration_finds_texts_of_every_kind() -> None:
    """The enumeration itself works: class texts, source f-strings and page texts are in it."""
    texts = visitor_texts()
    assert "Sign-in cancelled" in texts  # AccessDenied.title
    assert "The sign-in response repeats the parameter 'sample-value'." in texts  # an f-string
    assert "Sign in with 'sample-value'" in texts  # a page text with a placeholder
    assert len(texts) > 40


@pytest.mark.parametrize("language", sorted(BUILTIN))
def test_every_visitor_text_is_translated(language: str) -> None:
    catalog = BUILTIN_CATALOGS[language]
    missing = [
        f"{where}: {text!r}" for text, where in visitor_texts().items() if catalog.get(text) is None
    ]
    assert not missing, f"{len(missing)} texts lack a {language} translation:\n" + "\n".join(
        missing
    )


@pytest.mark.parametrize("language", sorted(BUILTIN))
def test_translations_keep_their_placeholders(language: str) -> None:
    for key, value in BUILTIN[language].items():
        assert set(PLACEHOLDER.findall(value)) == set(PLACEHOLDER.findall(key)), (key, value)
        assert value.strip() and value == value.strip(), key
