"""The public surface is explicit: ``__all__`` is sorted, exact and importable."""

from __future__ import annotations

import importlib

import pytest

import aiohttp_oauth2_login
import aiohttp_oauth2_login.providers

EXPECTED = {
    "aiohttp_oauth2_login": [
        "AccessDenied",
        "AuthenticatedClient",
        "ConfigurationError",
        "CookieStorage",
        "CrossSiteRequest",
        "InvalidIDToken",
        "InvalidRequest",
        "InvalidState",
        "IssuerMismatch",
        "LoginContext",
        "LoginFlowError",
        "LoginRefused",
        "OAuthLogin",
        "OAuthLoginError",
        "PageContext",
        "ProviderButton",
        "ProviderError",
        "ProviderTimeout",
        "ReauthenticationRequired",
        "RedactingAccessLogger",
        "SessionStoreUnavailable",
        "SessionTooLarge",
        "SignInMisconfigured",
        "TokenSet",
        "TokenValidationError",
        "UnknownProvider",
        "User",
        "__version__",
        "generate_key",
        "get_client",
        "get_user",
        "login_context",
        "login_required",
        "logout",
        "require_login",
        "setup_oauth",
    ],
    "aiohttp_oauth2_login.providers": [
        "ClientAuth",
        "Endpoints",
        "Facebook",
        "GitHub",
        "Google",
        "OAuth2Provider",
        "OIDCProvider",
        "Provider",
    ],
}


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_all_is_sorted_and_exact(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert list(module.__all__) == sorted(module.__all__)
    assert list(module.__all__) == EXPECTED[module_name]
    assert len(set(module.__all__)) == len(module.__all__)


@pytest.mark.parametrize(
    ("module_name", "name"), [(m, n) for m, names in EXPECTED.items() for n in names]
)
def test_every_exported_name_is_importable(module_name: str, name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import {name}", namespace)  # noqa: S102 - a fixed import line
    assert namespace[name] is getattr(importlib.import_module(module_name), name)


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from aiohttp_oauth2_login import *", namespace)  # noqa: S102 - a fixed import line
    namespace.pop("__builtins__", None)
    assert sorted(namespace) == sorted(EXPECTED["aiohttp_oauth2_login"])


def test_version_is_a_string() -> None:
    assert isinstance(aiohttp_oauth2_login.__version__, str)
    assert aiohttp_oauth2_login.__version__.count(".") >= 2


def test_errors_share_one_root() -> None:
    errors = aiohttp_oauth2_login.OAuthLoginError
    for name in EXPECTED["aiohttp_oauth2_login"]:
        value = getattr(aiohttp_oauth2_login, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, errors)
            assert isinstance(value.error, str) and value.error
    assert issubclass(aiohttp_oauth2_login.ConfigurationError, ValueError)


def test_providers_are_provider_subclasses() -> None:
    providers = aiohttp_oauth2_login.providers
    assert issubclass(providers.OIDCProvider, providers.OAuth2Provider)
    assert issubclass(providers.OAuth2Provider, providers.Provider)
    assert issubclass(providers.Google, providers.OIDCProvider)
    assert issubclass(providers.GitHub, providers.OAuth2Provider)
    assert issubclass(providers.Facebook, providers.OAuth2Provider)
