"""Reading the plugin's pages in tests: their tags, every URL in their attributes, a pattern."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "srcset", "background", "poster", "data", "ping"}
)


class PageTags(HTMLParser):
    """The tags of a page and the URLs in their attributes (escaped text is not markup)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.urls += [v or "" for k, v in attrs if k in URL_ATTRIBUTES]


def find(pattern: str, text: str) -> str:
    """The (unescaped) first group of ``pattern`` in the page ``text``; it must be there."""
    match = re.search(pattern, text)
    assert match is not None, f"{pattern!r} not found in page:\n{text[:2000]}"
    return html.unescape(match.group(1))
