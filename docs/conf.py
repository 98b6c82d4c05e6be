"""Sphinx configuration of the aiohttp-oauth2-login docs (``make docs``): MyST Markdown pages,
the furo theme, the API reference from the docstrings. Nothing is fetched over the network (no
intersphinx): references to third-party types are listed in ``nitpick_ignore_regex``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent))

from aiohttp_oauth2_login import __version__  # noqa: E402 - after the path set-up

project = "aiohttp-oauth2-login"
author = "aiohttp-oauth2-login developers"
copyright = "aiohttp-oauth2-login developers"  # noqa: A001 - Sphinx's name
release = __version__
version = ".".join(__version__.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "towncrier_draft",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"aiohttp-oauth2-login {release}"
html_static_path: list[str] = []

autodoc_member_order = "groupwise"  # classes, exceptions, functions, data
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_preserve_defaults = True

# nitpicky (-n): every cross-reference must resolve. Without intersphinx (the docs build has no
# network), types of other libraries cannot, so they are listed here.
nitpick_ignore_regex = [
    # private modules and names (signatures mention them; they are not part of the API)
    ("py:.*", r"aiohttp_oauth2_login\.(.*\.)?_.*"),
    ("py:.*", r"(HttpLimits|TransactionCookies|SessionBackend|OAuthConfig|Scope|OnLogin|Render)"),
    ("py:.*", r"(abc|collections|contextlib|http|ssl|json)\..*"),
    (
        "py:.*",
        r"(aiohttp|aiohttp_session|yarl|multidict|redis|jwt|cryptography|pytest|_pytest)(\..*)?",
    ),
    ("py:.*", r"(web|ClientSession|ClientResponse|URL|Request|Response|StreamResponse)(\..*)?"),
    ("py:.*", r"(collections\.abc|typing|datetime|asyncio|logging|types|enum)\..*"),
    (
        "py:.*",
        r"(Any|Awaitable|Callable|Mapping|Sequence|Iterable|AsyncIterator|Iterator|timedelta)",
    ),
    ("py:.*", r"(Self|Final|ClassVar|Literal|TypeVar|ParamSpec|P|T|R|Exception|ValueError)"),
]


def _resolve_public(app: Any, env: Any, node: Any, contnode: Any) -> Any:
    """Resolve a type named by its defining (private) module or unqualified, e.g.
    ``aiohttp_oauth2_login.providers.base.Provider`` or ``OnLogin``, to the one public object of
    that name documented in the API reference."""
    if node.get("refdomain") != "py":
        return None
    name = node["reftarget"].rsplit(".", 1)[-1]
    domain = env.get_domain("py")
    matches = [
        full
        for full, obj in domain.objects.items()
        if full.rsplit(".", 1)[-1] == name and not obj.aliased
    ]
    if len(matches) != 1:
        return None
    return domain.resolve_xref(
        env, node.get("refdoc"), app.builder, "obj", matches[0], node, contnode
    )


def setup(app: Any) -> None:
    app.connect("missing-reference", _resolve_public)
