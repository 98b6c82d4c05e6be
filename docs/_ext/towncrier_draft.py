"""``{towncrier-draft}``: the changelog of the released versions (``CHANGES.rst``) preceded by
the unreleased fragments of ``CHANGES/`` as ``towncrier build --draft`` renders them, so the
changelog page never lags behind the fragments and nothing is written to the repository."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from docutils import nodes
from docutils.core import publish_doctree
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

ROOT = Path(__file__).resolve().parents[2]
_MARKER = "What is seen below is what would be written."


def draft(version: str) -> str:
    """The unreleased fragments rendered as reStructuredText (empty when there are none)."""
    done = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [
            sys.executable,
            "-m",
            "towncrier",
            "build",
            "--draft",
            "--version",
            version,
            "--date",
            "unreleased",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    text = done.stdout
    if _MARKER in text:
        text = text.split(_MARKER, 1)[1]
    return text.strip() if "No significant changes" not in text else ""


class TowncrierDraft(SphinxDirective):
    """Parse the changelog text as reStructuredText and put its sections here."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        changes = ROOT / "CHANGES.rst"
        self.env.note_dependency(str(changes))
        for fragment in sorted((ROOT / "CHANGES").glob("*.rst")):
            self.env.note_dependency(str(fragment))
        parts = [draft(self.config.release)]
        if changes.exists():
            parts.append(changes.read_text(encoding="utf-8"))
        text = "\n\n".join(p for p in parts if p)
        if not text:
            return [nodes.paragraph(text="No changes yet.")]
        doctree = publish_doctree(
            text,
            source_path=str(changes),
            settings_overrides={"report_level": 2, "halt_level": 2, "doctitle_xform": False},
        )
        return list(doctree.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("towncrier-draft", TowncrierDraft)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
