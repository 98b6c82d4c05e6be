"""The plugin's own pages and error answers: escaped, translated, self-contained, never cached
or framed; drawn by the app's ``render=`` hook or templates when it has them."""

from __future__ import annotations

from .context import PAGES_KEY, PageContext, PageKind, PageSettings, ProviderButton, Render
from .context import page_settings as page_settings
from .headers import (
    SECURITY_HEADERS,
    content_security_policy,
    csp_origin,
    json_response,
    wants_json,
)
from .i18n import Translator
from .render import (
    PAGE_TEXTS,
    error_context,
    error_page,
    error_response,
    page,
    page_context,
    provider_button,
    render_page,
    settings_of,
    translator_for,
)

__all__ = [
    "PAGES_KEY",
    "PAGE_TEXTS",
    "SECURITY_HEADERS",
    "PageContext",
    "PageKind",
    "PageSettings",
    "ProviderButton",
    "Render",
    "Translator",
    "content_security_policy",
    "csp_origin",
    "error_context",
    "error_page",
    "error_response",
    "json_response",
    "page",
    "page_context",
    "page_settings",
    "provider_button",
    "render_page",
    "settings_of",
    "translator_for",
    "wants_json",
]
