"""Provider icons and brand colours: inline SVG (no fetch, so CSP ``default-src 'none'`` holds)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["BRANDS", "Brand", "brand"]


@dataclass(frozen=True, slots=True)
class Brand:
    """How a provider's button looks: an inline SVG icon (``aria-hidden``, sized by CSS) and
    its colours (CSS hex)."""

    icon_svg: str
    color: str
    text_color: str
    border_color: str


def _svg(view_box: str, inner: str) -> str:
    return (
        f'<svg class="icon" viewBox="{view_box}" width="20" height="20" aria-hidden="true" '
        f'focusable="false" xmlns="http://www.w3.org/2000/svg">{inner}</svg>'
    )


_GITHUB = _svg(
    "0 0 16 16",
    '<path fill="currentColor" d="M8 0C3.58 0 0 3.58 0 8c0 3.54 2.29 6.53 5.47 7.59.4.07.55-.17'
    ".55-.38 0-.19-.01-.82-.01-1.49-2.01.37-2.53-.49-2.69-.94-.09-.23-.48-.94-.82-1.13-.28-.15"
    "-.68-.52-.01-.53.63-.01 1.08.58 1.23.82.72 1.21 1.87.87 2.33.66.07-.52.28-.87.51-1.07-1.78"
    "-.2-3.64-.89-3.64-3.95 0-.87.31-1.59.82-2.15-.08-.2-.36-1.02.08-2.12 0 0 .67-.21 2.2.82.64"
    "-.18 1.32-.27 2-.27.68 0 1.36.09 2 .27 1.53-1.04 2.2-.82 2.2-.82.44 1.1.16 1.92.08 2.12.51"
    ".56.82 1.27.82 2.15 0 3.07-1.87 3.75-3.65 3.95.29.25.54.73.54 1.48 0 1.07-.01 1.93-.01 2.2 "
    '0 .21.15.46.55.38A8.01 8.01 0 0016 8c0-4.42-3.58-8-8-8z"/>',
)
_GOOGLE = _svg(
    "0 0 48 48",
    '<path fill="#EA4335" d="M24 9.5c3.54 0 6.71 1.22 9.21 3.6l6.85-6.85C35.9 2.38 30.47 0 24 0 '
    '14.62 0 6.51 5.38 2.56 13.22l7.98 6.19C12.43 13.72 17.74 9.5 24 9.5z"/>'
    '<path fill="#4285F4" d="M46.98 24.55c0-1.57-.15-3.09-.38-4.55H24v9.02h12.94c-.58 2.96-2.26 '
    '5.48-4.78 7.18l7.73 6c4.51-4.18 7.09-10.36 7.09-17.65z"/>'
    '<path fill="#FBBC05" d="M10.53 28.59c-.48-1.45-.76-2.99-.76-4.59s.27-3.14.76-4.59l-7.98'
    '-6.19C.92 16.46 0 20.12 0 24c0 3.88.92 7.54 2.56 10.78l7.97-6.19z"/>'
    '<path fill="#34A853" d="M24 48c6.48 0 11.93-2.13 15.89-5.81l-7.73-6c-2.15 1.45-4.92 2.3-8.16 '
    '2.3-6.26 0-11.57-4.22-13.47-9.91l-7.98 6.19C6.51 42.62 14.62 48 24 48z"/>',
)
_FACEBOOK = _svg(
    "0 0 24 24",
    '<path fill="currentColor" d="M24 12.07C24 5.41 18.63 0 12 0S0 5.4 0 12.07C0 18.1 4.39 23.1 '
    "10.13 24v-8.44H7.08v-3.49h3.04V9.41c0-3.02 1.8-4.7 4.54-4.7 1.31 0 2.68.24 2.68.24v2.97h"
    '-1.5c-1.5 0-1.96.93-1.96 1.89v2.26h3.32l-.53 3.5h-2.8V24C19.62 23.1 24 18.1 24 12.07z"/>',
)
#: a neutral "sign in" arrow for every provider without a brand of its own
_GENERIC = _svg(
    "0 0 24 24",
    '<path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" '
    'stroke-linejoin="round" d="M15 3h4a2 2 0 0 1 2 2v14a2 2 0 0 1-2 2h-4M10 17l5-5-5-5M15 12H3"/>',
)

#: by the preset's ``default_name``; anything else is ``generic``
BRANDS: dict[str, Brand] = {
    "github": Brand(_GITHUB, color="#24292f", text_color="#ffffff", border_color="#24292f"),
    "google": Brand(_GOOGLE, color="#ffffff", text_color="#1f1f1f", border_color="#747775"),
    "facebook": Brand(_FACEBOOK, color="#1877f2", text_color="#ffffff", border_color="#1877f2"),
    "generic": Brand(_GENERIC, color="#ffffff", text_color="#1d2330", border_color="#c9ced8"),
}


def brand(kind: str) -> tuple[str, Brand]:
    """The brand key and look of a provider kind (a preset's ``default_name``)."""
    key = kind if kind in BRANDS else "generic"
    return key, BRANDS[key]
