"""Configuration that refuses to be unsafe (G5, G9, L6; README, Configuration).

Each unsafe configuration is a ``ConfigurationError`` (also a ``ValueError``) raised by
``setup_oauth`` itself, before the app is touched and long before the first request, with a
message that names the problem: an https ``public_url`` without a key, a plain-http public URL
outside loopback, two providers sharing an issuer (RFC 9207 mix-up defence), a key that is not
32 bytes. Their safe neighbours are accepted, so the refusals are not accidental.
"""

from __future__ import annotations

import base64
import re
import warnings
from typing import Any

import pytest
from aiohttp import web

from aiohttp_oauth2_login import ConfigurationError, CookieStorage, setup_oauth
from aiohttp_oauth2_login.providers import GitHub, OAuth2Provider, OIDCProvider

from .support.app import KEY


def _oidc(name: str = "idp", issuer: str = "https://idp.example") -> OIDCProvider:
    return OIDCProvider(name=name, issuer=issuer, client_id="client", client_secret="secret")


def _oauth2(name: str, issuer: str | None) -> OAuth2Provider:
    return OAuth2Provider(
        name=name,
        client_id="client",
        client_secret="secret",
        authorize_url="https://as.example/authorize",
        token_url="https://as.example/token",
        userinfo_url="https://as.example/userinfo",
        issuer=issuer,
    )


def _key(size: int) -> str:
    return base64.urlsafe_b64encode(b"k" * size).decode()


def _refused(match: str, **options: Any) -> ConfigurationError:
    """``setup_oauth`` refuses ``options`` with a message matching ``match``; app untouched."""
    options.setdefault("providers", [_oidc()])
    app = web.Application()
    before = (list(app.middlewares), len(app.router.resources()), len(app.cleanup_ctx))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the no-key warning of a safe setup
        with pytest.raises(ConfigurationError, match=match) as info:
            setup_oauth(app, **options)
    assert isinstance(info.value, ValueError)
    assert (list(app.middlewares), len(app.router.resources()), len(app.cleanup_ctx)) == before
    return info.value


# ---- an https public URL needs a key ---------------------------------------------------------


@pytest.mark.parametrize(
    "public_url",
    ["https://app.example.com", "https://app.example.com/prefix", "HTTPS://App.Example.com"],
)
def test_https_public_url_without_a_key_is_refused(public_url: str) -> None:
    error = _refused("secret_key is required", public_url=public_url)
    assert "keygen" in str(error)  # and says how to make one


def test_https_public_url_with_a_key_is_accepted() -> None:
    setup_oauth(
        web.Application(), providers=[_oidc()], public_url="https://app.example.com", secret_key=KEY
    )


# ---- plain http only on loopback ---------------------------------------------------------------


@pytest.mark.parametrize(
    "public_url",
    [
        "http://app.example.com",
        "http://10.0.0.1:8080",
        "http://192.168.1.10",
        "http://0.0.0.0:8080",
        "http://[::]:8080",
        "http://localhost.evil.example",
        "http://127.0.0.1.nip.io",
        "http://127.0.0.1@evil.example",
        "http://app.example.com:443",
    ],
)
def test_plain_http_public_url_outside_loopback_is_refused(public_url: str) -> None:
    error = _refused(r"public_url", public_url=public_url, secret_key=KEY)
    assert re.search(r"https|credentials", str(error)), str(error)


@pytest.mark.parametrize(
    "public_url",
    ["http://localhost:8080", "http://127.0.0.1:8080", "http://127.8.9.10", "http://[::1]:8080"],
)
def test_plain_http_public_url_on_loopback_is_accepted(public_url: str) -> None:
    setup_oauth(web.Application(), providers=[_oidc()], public_url=public_url, secret_key=KEY)


# ---- two providers may not share an issuer ---------------------------------------------------


@pytest.mark.parametrize(
    "providers",
    [
        pytest.param([_oidc("one"), _oidc("two")], id="two-oidc"),
        pytest.param([_oidc("one"), _oauth2("two", "https://idp.example")], id="oidc-and-oauth2"),
        pytest.param(
            [_oauth2("one", "https://as.example"), _oauth2("two", "https://as.example")],
            id="two-oauth2",
        ),
        pytest.param(
            [_oidc("a"), _oidc("b", "https://other.example"), _oidc("c")], id="first-and-third"
        ),
    ],
)
def test_providers_sharing_an_issuer_are_refused(providers: list[Any]) -> None:
    error = _refused("share the issuer", providers=providers, secret_key=KEY)
    assert "https://" in str(error)  # names the issuer


def test_two_github_presets_without_an_issuer_are_accepted() -> None:
    """Providers without an issuer (GitHub.com sends no ``iss``) have nothing to share."""
    github = [
        GitHub(name="github", client_id="a", client_secret="b"),
        GitHub(name="github-work", client_id="c", client_secret="d"),
    ]
    assert {p.issuer for p in github} == {None}
    setup_oauth(web.Application(), providers=github, secret_key=KEY)


def test_providers_with_distinct_issuers_are_accepted() -> None:
    providers = [_oidc("one"), _oidc("two", "https://idp2.example"), _oauth2("three", None)]
    setup_oauth(web.Application(), providers=providers, secret_key=KEY)


# ---- keys are 32 bytes -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "secret_key",
    [
        pytest.param(_key(16), id="16-bytes"),
        pytest.param(_key(31), id="31-bytes"),
        pytest.param(_key(33), id="33-bytes"),
        pytest.param(_key(64), id="64-bytes"),
        pytest.param("", id="empty"),
        pytest.param("not base64 at all!", id="not-base64"),
        pytest.param("c2hvcnQ=", id="short-word"),
        pytest.param(_key(31).encode(), id="31-bytes-as-bytes"),
        pytest.param([KEY, _key(16)], id="short-second-key"),
        pytest.param([_key(16), KEY], id="short-first-key"),
        pytest.param(b"k" * 32, id="raw-32-bytes-not-base64"),
    ],
)
def test_a_key_that_is_not_32_bytes_is_refused(secret_key: Any) -> None:
    error = _refused("32 bytes", secret_key=secret_key)
    assert "keygen" in str(error)


@pytest.mark.parametrize("secret_key", [_key(16), [KEY, _key(31)]])
def test_a_short_key_is_refused_with_an_https_public_url_too(secret_key: Any) -> None:
    _refused("32 bytes", secret_key=secret_key, public_url="https://app.example.com")


@pytest.mark.parametrize("secret_key", [_key(31), ""])
def test_cookie_storage_refuses_a_short_key(secret_key: str) -> None:
    with pytest.raises(ConfigurationError, match="32 bytes"):
        CookieStorage(secret_key)


def test_a_32_byte_key_list_is_accepted() -> None:
    setup_oauth(web.Application(), providers=[_oidc()], secret_key=[KEY, _key(32)])


def test_the_error_never_echoes_the_key() -> None:
    """A refused key is not printed back (it may be a real key with a typo)."""
    almost = _key(31)
    error = _refused("32 bytes", secret_key=[KEY, almost])
    assert almost not in str(error) and KEY not in str(error)
