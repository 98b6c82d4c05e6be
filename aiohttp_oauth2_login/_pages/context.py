"""What a page hook or template receives (``PageContext``), and the site's page settings."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from aiohttp import web

from ..errors import ConfigurationError, OAuthLoginError
from ..user import User
from .i18n import DEFAULT, Translations, Translator

__all__ = [
    "PAGES_KEY",
    "PageContext",
    "PageKind",
    "PageSettings",
    "ProviderButton",
    "Render",
    "page_settings",
]

PageKind = Literal["chooser", "logout", "error"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderButton:
    """One "Sign in with …" button: where it goes and how it looks.

    ``icon_svg`` is the plugin's own inline SVG (safe markup: in Jinja write
    ``{{ button.icon_svg|safe }}``); ``brand`` is ``github``, ``google``, ``facebook`` or
    ``generic``; colours are CSS hex values.
    """

    name: str
    title: str
    label: str
    login_url: str
    brand: str
    icon_svg: str
    color: str
    text_color: str
    border_color: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PageContext:
    """Everything one of the plugin's pages shows, already translated, for ``render=`` hooks
    and ``oauth/<kind>.html`` templates.

    ``kind``: ``chooser`` (``GET /auth/login``), ``logout`` (the sign-out confirmation) or
    ``error``. ``texts`` holds the page's sentences by role (``intro``, ``question``,
    ``description``, ``hint``, ``provider_said``, ``error_code``, labels ``sign_out``,
    ``stay``, ``retry`` …); ``links`` its URLs (``retry``, ``stay``, ``logout`` — the form's
    action, to POST with the hidden field ``next``). ``gettext`` translates the app's own
    text into the page's ``language`` (English keys, ``translations=`` catalogs).
    """

    kind: PageKind
    title: str
    language: str
    html_lang: str
    site_name: str | None
    status: int = 200
    texts: Mapping[str, str] = field(default_factory=dict)
    links: Mapping[str, str] = field(default_factory=dict)
    providers: tuple[ProviderButton, ...] = ()
    user: User | None = None
    next: str | None = None
    error: OAuthLoginError | None = None
    gettext: Callable[..., str] = field(default=Translator("en"), repr=False)


#: ``render(request, context)``: the page as a ``web.Response``, HTML text, or ``None`` for the
#: built-in page; sync or async
Render = Callable[
    [web.Request, PageContext],
    "web.Response | str | None | Awaitable[web.Response | str | None]",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PageSettings:
    """``setup_oauth``'s page options, validated (see ``page_settings``)."""

    site_name: str | None = None
    render: Render | None = None
    translations: Translations = DEFAULT


#: the page settings of the nearest ``setup_oauth`` (set on its app and its login sub-app)
PAGES_KEY: Final = web.AppKey[PageSettings]("aiohttp_oauth2_login.pages")

_LANG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{1,8})*", re.IGNORECASE)
_MAX_SITE_NAME = 100


def page_settings(
    *,
    site_name: object = None,
    render: object = None,
    translations: object = None,
    languages: object = None,
) -> PageSettings:
    """Check ``site_name``, ``render``, ``translations`` and ``languages`` (setup time)."""
    if site_name is not None:
        if not isinstance(site_name, str) or not site_name.strip():
            raise ConfigurationError("site_name must be a non-empty string")
        if len(site_name) > _MAX_SITE_NAME or not site_name.isprintable():
            raise ConfigurationError(
                f"site_name must be one line of at most {_MAX_SITE_NAME} printable characters"
            )
    if render is not None and not callable(render):
        raise ConfigurationError("render must be a callable (request, PageContext) -> response")
    extra = _check_translations(translations)
    offered = _check_languages(languages, extra)
    return PageSettings(
        site_name=site_name.strip() if isinstance(site_name, str) else None,
        render=render,
        translations=Translations.build(extra, offered),
    )


def _check_translations(value: object) -> dict[str, dict[str, str]]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            "translations must map a language ('de') to {English text: translation}"
        )
    checked: dict[str, dict[str, str]] = {}
    for lang, entries in value.items():
        if not isinstance(lang, str) or not _LANG.fullmatch(lang):
            raise ConfigurationError(f"translations: {lang!r} is not a language tag like 'de'")
        if not isinstance(entries, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in entries.items()
        ):
            raise ConfigurationError(f"translations[{lang!r}] must map English text to text")
        checked[lang.lower()] = dict(entries)
    return checked


def _check_languages(
    value: object, extra: Mapping[str, Mapping[str, str]]
) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ConfigurationError("languages must be a non-empty list of language tags")
    known = set(Translations.build(extra, None).catalogs)
    for lang in value:
        if not isinstance(lang, str) or lang.lower() not in known:
            raise ConfigurationError(
                f"languages: {lang!r} has no catalog; known: {', '.join(sorted(known))} "
                "(add one with translations=)"
            )
    return tuple(lang.lower() for lang in value)
