"""Which sign-in providers the example app offers, decided from environment variables.

Real providers switch on when their credentials are set; without any, the package's fake
provider is mounted as a built-in development provider so the whole flow runs offline.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp_oauth2_login.providers import Facebook, GitHub, Google, OIDCProvider, Provider
from aiohttp_oauth2_login.testing import FakeProvider

__all__ = [
    "DEV_MOUNT",
    "DEV_NAME",
    "DEV_TITLE",
    "DevProvider",
    "dev_provider",
    "providers_from_env",
    "want_dev_provider",
]

DEV_NAME = "dev"
DEV_TITLE = "Development sign-in"
DEV_MOUNT = "/dev-provider"
DEV_CLIENT_ID = "example-app"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _credentials(environ: Mapping[str, str], prefix: str) -> tuple[str, str] | None:
    """``<PREFIX>_CLIENT_ID`` and ``<PREFIX>_CLIENT_SECRET``; both or neither must be set."""
    client_id = environ.get(f"{prefix}_CLIENT_ID", "").strip()
    secret = environ.get(f"{prefix}_CLIENT_SECRET", "").strip()
    if not client_id and not secret:
        return None
    if not client_id or not secret:
        missing = f"{prefix}_CLIENT_SECRET" if client_id else f"{prefix}_CLIENT_ID"
        raise ValueError(f"{prefix} sign-in is half configured: set {missing} as well")
    return client_id, secret


def providers_from_env(environ: Mapping[str, str]) -> list[Provider]:
    """The real providers whose credentials are in ``environ`` (maybe none)."""
    found: list[Provider] = []
    if (github := _credentials(environ, "GITHUB")) is not None:
        found.append(GitHub(client_id=github[0], client_secret=github[1]))
    if (google := _credentials(environ, "GOOGLE")) is not None:
        found.append(Google(client_id=google[0], client_secret=google[1]))
    if (facebook := _credentials(environ, "FACEBOOK")) is not None:
        found.append(Facebook(client_id=facebook[0], client_secret=facebook[1]))
    oidc = _credentials(environ, "OIDC")
    issuer = environ.get("OIDC_ISSUER", "").strip()
    if oidc is not None or issuer:
        if oidc is None or not issuer:
            raise ValueError(
                "generic OpenID Connect sign-in needs OIDC_ISSUER, OIDC_CLIENT_ID and "
                "OIDC_CLIENT_SECRET together"
            )
        name = environ.get("OIDC_NAME", "").strip() or "oidc"
        title = environ.get("OIDC_TITLE", "").strip() or (
            "OpenID Connect" if name == "oidc" else None
        )
        found.append(
            OIDCProvider(
                name=name, title=title, issuer=issuer, client_id=oidc[0], client_secret=oidc[1]
            )
        )
    return found


def want_dev_provider(environ: Mapping[str, str], real: list[Provider]) -> bool:
    """``DEV_PROVIDER=1`` forces the development provider on, ``0`` off; else only if no
    real provider is configured."""
    value = environ.get("DEV_PROVIDER", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if value:
        raise ValueError(f"DEV_PROVIDER must be 1 or 0, not {value!r}")
    return not real


@dataclass(frozen=True, slots=True)
class DevProvider:
    """The fake provider (served by this app under ``DEV_MOUNT``) and the client for it."""

    fake: FakeProvider
    provider: OIDCProvider


def dev_provider(public_url: str) -> DevProvider:
    """The offline development provider: anyone can sign in as anyone. Never in production."""
    fake = FakeProvider(
        issuer=f"{public_url.rstrip('/')}{DEV_MOUNT}",
        client_id=DEV_CLIENT_ID,
        client_secret=secrets.token_urlsafe(32),  # random per process
        auto_approve=False,  # show the real sign-in page
        title=DEV_TITLE,
    )
    provider = OIDCProvider(
        name=DEV_NAME,
        title=DEV_TITLE,
        issuer=fake.issuer,
        client_id=fake.client_id,
        client_secret=fake.client_secret,
    )
    return DevProvider(fake=fake, provider=provider)
