"""Translations of the pages, gettext-style: catalogs keyed by the English text.

A key may hold ``{placeholders}``: ``t("Sign in with {provider}", provider="GitHub")`` fills the
translated template, and an already formatted English text (an error description built with an
f-string) is matched against the templates, so it is translated too. Text without a translation
stays English. The language comes from ``Accept-Language`` (RFC 9110 §12.5.4: q-values, ``*``,
``q=0`` excluded), among the languages the site offers; the first offered one is the fallback.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .catalogs import BUILTIN

__all__ = ["Catalog", "Translator", "choose_language", "html_lang", "Translations"]

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_TAG = re.compile(r"[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*")
_Q = re.compile(r"q=(0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)", re.IGNORECASE)
#: read at most this much of ``Accept-Language`` (browsers send well under 200 characters)
_MAX_HEADER = 1024
_MAX_ITEMS = 32
#: Chinese tags that mean Traditional script: not answered with the Simplified catalog
_TRADITIONAL = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")


def fill(template: str, values: Mapping[str, str]) -> str:
    """``{name}`` replaced by ``values[name]`` in one pass (values are never re-read)."""
    if not values:
        return template
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


@dataclass(frozen=True, slots=True)
class Catalog:
    """One language's translations; keys with placeholders also match formatted text."""

    exact: Mapping[str, str]
    patterns: tuple[tuple[re.Pattern[str], str], ...] = ()

    @classmethod
    def of(cls, entries: Mapping[str, str]) -> Catalog:
        patterns = []
        for key, value in entries.items():
            if _PLACEHOLDER.search(key):
                parts = _PLACEHOLDER.split(key)  # text, name, text, name, ..., text
                regex = "".join(
                    re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)"
                    for i, part in enumerate(parts)
                )
                try:
                    patterns.append((re.compile(regex, re.DOTALL), value))
                except re.error:  # the same name twice: usable as a template only
                    continue
        return cls(exact=dict(entries), patterns=tuple(patterns))

    def get(self, text: str) -> str | None:
        found = self.exact.get(text)
        if found is not None:
            return found
        for regex, value in self.patterns:
            match = regex.fullmatch(text)
            if match is not None:
                return fill(value, match.groupdict())
        return None


@dataclass(frozen=True, slots=True)
class Translations:
    """The catalogs of a site: the built-in ones with the app's ``translations=`` over them."""

    catalogs: Mapping[str, tuple[Catalog, ...]] = field(default_factory=dict)
    offered: tuple[str, ...] = ("en",)

    @classmethod
    def build(
        cls, extra: Mapping[str, Mapping[str, str]], languages: Sequence[str] | None
    ) -> Translations:
        catalogs: dict[str, tuple[Catalog, ...]] = {"en": ()}
        for lang in BUILTIN:
            catalogs[lang] = (BUILTIN_CATALOGS[lang],)
        for lang, entries in extra.items():
            key = lang.lower()
            catalogs[key] = (Catalog.of(entries), *catalogs.get(key, ()))
        offered = tuple(lang.lower() for lang in languages) if languages else tuple(catalogs)
        return cls(catalogs=catalogs, offered=offered)

    def translator(self, accept_language: str | None) -> Translator:
        lang = choose_language(accept_language, self.offered)
        return Translator(lang, self.catalogs.get(lang, ()))


BUILTIN_CATALOGS: dict[str, Catalog] = {lang: Catalog.of(e) for lang, e in BUILTIN.items()}
DEFAULT = Translations.build({}, None)


class Translator:
    """``t(text, **values)``: ``text`` in the chosen language (English when untranslated)."""

    __slots__ = ("catalogs", "language")

    def __init__(self, language: str, catalogs: Iterable[Catalog] = ()) -> None:
        self.language = language
        self.catalogs = tuple(catalogs)

    def __call__(self, text: str, /, **values: str) -> str:
        for catalog in self.catalogs:
            found = catalog.get(text)
            if found is not None:
                return fill(found, values)
        return fill(text, values)


def _ranked(header: str) -> list[str]:
    """The language ranges of ``Accept-Language``, best first (stable for equal q); ``q=0``
    and malformed items are dropped."""
    items: list[tuple[float, int, str]] = []
    for index, item in enumerate(header[:_MAX_HEADER].split(",")[:_MAX_ITEMS]):
        tag, *params = (part.strip() for part in item.split(";"))
        if not _TAG.fullmatch(tag):
            continue
        q = 1.0
        for param in params:
            match = _Q.fullmatch(param)
            if match is None:
                q = -1.0
                break
            q = float(match.group(1))
        if q > 0:
            items.append((-q, index, tag.lower()))
    return [tag for _, _, tag in sorted(items)]


def choose_language(header: str | None, offered: Sequence[str]) -> str:
    """The offered language that best matches ``Accept-Language`` (exact tag, then its primary
    subtag; ``zh-CN``, ``zh-SG``, ``zh-Hans`` mean ``zh``; Traditional Chinese tags match only
    a catalog of their own); ``offered[0]`` when nothing matches."""
    if not header:
        return offered[0]
    for tag in _ranked(header):
        if tag == "*":
            return offered[0]
        if tag in offered:
            return tag
        primary = tag.split("-", 1)[0]
        if primary == "zh" and tag.startswith(_TRADITIONAL):
            continue
        if primary in offered:
            return primary
    return offered[0]


def html_lang(language: str) -> str:
    """The ``<html lang>`` of a language key: ``zh`` is written ``zh-Hans`` (the script)."""
    return "zh-Hans" if language == "zh" else language
