"""Checks that need no network: ``public_url``, ``secret_key``, the session cookie, the URLs to
register and each provider's configured endpoints (SECURITY.md G9, L3, L6)."""

from __future__ import annotations

from typing import Any

import aiohttp_session
from aiohttp_session.redis_storage import RedisStorage
from yarl import URL

from .._plugin import OAuthLogin
from .._sessions.cookie_storage import CookieStorage
from ..config import is_loopback
from ..providers.base import Provider
from ..providers.oauth2 import OAuth2Provider
from ..providers.oidc import OIDCProvider
from .report import LoginFacts, ProviderFacts, Report

__all__ = ["check_endpoint_url", "describe_login", "mount_of", "provider_subject"]

_PLACEHOLDERS = frozenset(
    {"...", "xxx", "changeme", "change-me", "todo", "secret", "client-id", "client-secret"}
)


def mount_of(login: OAuthLogin) -> str:
    """Where the login routes live as browsers see them (``/auth``, ``/api/auth``)."""
    return login.cookie_path().rstrip("/") or "/"


def provider_subject(login: OAuthLogin, provider: Provider, several: bool) -> str:
    return f"{mount_of(login)} {provider.name}" if several else provider.name


def _absolute(login: OAuthLogin, path: str) -> str:
    public = login.config.public_url
    return str(public.origin()) + path if public is not None else path


def _kind(provider: Provider) -> str:
    cls = type(provider)
    if cls.__module__.startswith("aiohttp_oauth2_login.providers.") and cls not in (
        OIDCProvider,
        OAuth2Provider,
    ):
        return f"{cls.__name__} preset"
    return cls.__name__


def _secret(provider: Provider) -> str:
    if provider.client_secret is None:
        return f"none (public client, client_auth={provider.client_auth!r})"
    return f"set ({len(provider.client_secret)} characters)"


def _looks_like_placeholder(value: str | None) -> bool:
    if value is None:
        return False
    lowered = value.strip().lower()
    return lowered in _PLACEHOLDERS or lowered.startswith("your") or "<" in value


def check_endpoint_url(report: Report, subject: str, what: str, url: str | None) -> bool:
    """FAULT for an endpoint that is not https (http is fine on loopback only); True if fine."""
    if url is None:
        return True
    parsed = URL(url)
    if parsed.scheme == "https" or is_loopback(parsed.host):
        return True
    report.add(
        "FAULT",
        "endpoint.insecure",
        subject,
        f"{what} {url} is plain http on a non-loopback host: codes and tokens would travel "
        "unencrypted",
        f"use the https URL of the {what}",
    )
    return False


def _oauth2_endpoints(provider: Provider) -> dict[str, str | None]:
    if not isinstance(provider, OAuth2Provider) or isinstance(provider, OIDCProvider):
        return {}
    return {
        "authorization_endpoint": provider.authorize_url,
        "token_endpoint": provider.token_url,
        "userinfo_endpoint": provider.userinfo_url,
        "revocation_endpoint": provider.revocation_url,
        "api_base_url": provider.api_base_url,
    }


def _describe_provider(
    report: Report, login: OAuthLogin, provider: Provider, several: bool
) -> ProviderFacts:
    subject = provider_subject(login, provider, several)
    path = login._route_path("callback", provider=provider.name)
    if login.config.public_url is not None:
        redirect = login.redirect_uri(provider.name)
    else:
        redirect = f"<origin of each request>{path}"
    facts = ProviderFacts(
        name=provider.name,
        kind=_kind(provider),
        title=provider.title,
        client_id=provider.client_id,
        client_secret=_secret(provider),
        client_auth=provider.client_auth,
        scopes=list(provider.scopes),
        redirect_uri=redirect,
        issuer=provider.issuer,
        endpoints=_oauth2_endpoints(provider),
    )
    for what, value in (
        ("client_id", provider.client_id),
        ("client_secret", provider.client_secret),
    ):
        if _looks_like_placeholder(value):
            report.add(
                "FAULT",
                "provider.placeholder",
                subject,
                f"{what} looks like a placeholder from an example",
                f"set the {what} the provider issued for this app (e.g. from the environment: "
                f"{type(provider).__name__}.from_env())",
            )
    if facts.endpoints:
        fine = [
            check_endpoint_url(report, subject, what, url) for what, url in facts.endpoints.items()
        ]
        if all(fine):
            origins = sorted({str(URL(u).origin()) for u in facts.endpoints.values() if u})
            report.add("OK", "endpoint.https", subject, "endpoints at " + ", ".join(origins))
    return facts


def _session_facts(login: OAuthLogin) -> dict[str, Any]:
    storage: aiohttp_session.AbstractStorage = login.storage
    if isinstance(storage, CookieStorage):
        kind = "encrypted cookie"
    elif isinstance(storage, RedisStorage):
        kind = "Redis (the cookie holds an id)"
    else:
        kind = f"foreign storage {type(storage).__name__}"
    if login.backend.reused:
        kind += " (the app's own aiohttp-session middleware)"
    params = storage.cookie_params
    return {
        "storage": kind,
        "cookie_name": storage.cookie_name,
        "secure": bool(params.get("secure")),
        "httponly": bool(params.get("httponly")),
        "samesite": params.get("samesite"),
        "path": params.get("path"),
        "domain": params.get("domain"),
        "max_age": storage.max_age,
        "lifetime": login.config.session_lifetime,
        "idle_timeout": login.config.idle_timeout,
        "transaction_cookies": [login.tx_cookies.prefix + "*", login.tx_cookies.key_prefix + "*"],
    }


def _check_public_url(report: Report, login: OAuthLogin) -> None:
    subject, public = mount_of(login), login.config.public_url
    if public is None:
        report.add(
            "FAULT",
            "public_url.missing",
            subject,
            "public_url is not set: redirect URIs and cookies follow each request's Host, so "
            "behind a proxy logins go to the internal origin and cookies lose Secure",
            "setup_oauth(..., public_url='https://your.site') (SECURITY.md L6)",
        )
    elif public.scheme == "http":
        report.add(
            "WARN",
            "public_url.http",
            subject,
            f"public_url {public} is plain http (loopback): fine for development, not for "
            "production (no Secure, no __Host- cookies: SECURITY.md L3)",
            "use the site's https URL in production",
        )
    else:
        report.add("OK", "public_url", subject, f"public_url {public}")


def _check_cookie(report: Report, login: OAuthLogin, session: dict[str, Any]) -> None:
    subject, public = mount_of(login), login.config.public_url
    https = public is not None and public.scheme == "https"
    name, secure = session["cookie_name"], session["secure"]
    problems = 0
    if https and not secure:
        problems += _fault(
            report,
            "cookie.not_secure",
            subject,
            f"the session cookie {name!r} lacks Secure on an https site",
            "build the session storage with secure=True (or let setup_oauth build it)",
        )
    if secure and public is not None and public.scheme == "http":
        problems += _fault(
            report,
            "cookie.secure_over_http",
            subject,
            f"the session cookie {name!r} is Secure but public_url is http: browsers drop "
            "it and every sign-in loops back to the login",
            "serve the site over https, or build the storage with secure=False for development",
        )
    elif secure and public is None:
        problems += 1
        report.add(
            "WARN",
            "cookie.secure_without_public_url",
            subject,
            f"the session cookie {name!r} is Secure: a visitor over plain http cannot sign in",
            "set public_url to the site's https URL",
        )
    if https and not name.startswith("__Host-"):
        problems += 1
        report.add(
            "WARN",
            "cookie.no_host_prefix",
            subject,
            f"the session cookie {name!r} has no __Host- prefix: a sibling host could set it",
            "name it '__Host-...' (Secure, Path=/, no Domain), as setup_oauth's own storages do",
        )
    samesite = str(session["samesite"] or "").lower()
    if samesite != "lax":
        problems += 1
        why = {
            "strict": "it is not sent on the redirect back from the provider, so the visitor "
            "looks signed out until the next click",
            "none": "it is sent on cross-site requests (CSRF exposure)",
        }.get(samesite, "browsers differ on the default")
        report.add(
            "WARN",
            "cookie.samesite",
            subject,
            f"the session cookie's SameSite is {session['samesite'] or 'not set'}: {why}",
            "use SameSite=Lax (SECURITY.md G9)",
        )
    if not session["httponly"]:
        problems += 1
        report.add(
            "WARN",
            "cookie.not_httponly",
            subject,
            "the session cookie is readable by scripts (no HttpOnly)",
            "build the storage with httponly=True",
        )
    if session["domain"]:
        problems += 1
        report.add(
            "WARN",
            "cookie.domain",
            subject,
            f"the session cookie is sent to every host under Domain={session['domain']}",
            "leave Domain unset (host-only cookie)",
        )
    if not problems:
        report.add(
            "OK", "cookie", subject, f"session cookie {name!r} ({'Secure, ' * secure}HttpOnly, Lax)"
        )


def _fault(report: Report, id: str, subject: str, message: str, fix: str) -> int:
    report.add("FAULT", id, subject, message, fix)
    return 1


def describe_login(
    report: Report, login: OAuthLogin, *, random_key: bool | None, several: bool
) -> LoginFacts:
    """The facts of one ``setup_oauth`` and its offline checks (added to ``report``)."""
    subject = mount_of(login)
    session = _session_facts(login)
    keys = login.tx_cookies._sealer.key_count
    if random_key:
        key_state = "random (made up at start-up: development only)"
    elif random_key is None:
        key_state = "set or random (see the secret_key check)"
    else:
        key_state = f"set ({keys} key{'s' * (keys != 1)})"
    facts = LoginFacts(
        mount=subject,
        public_url=str(login.config.public_url) if login.config.public_url else None,
        login_url=_absolute(login, login.login_url()),
        logout_url=_absolute(login, login.logout_url()),
        secret_key=key_state,
        session=session,
    )
    _check_public_url(report, login)
    if random_key:
        report.add(
            "FAULT",
            "secret_key.random",
            subject,
            "no secret_key: a random key is made up at every start, so sessions end on restart "
            "and a login started on one instance fails on another",
            "generate one with 'python -m aiohttp_oauth2_login keygen' and pass "
            "secret_key=os.environ[...]",
        )
    elif random_key is not None:
        report.add("OK", "secret_key", subject, f"secret_key {facts.secret_key}")
    _check_cookie(report, login, session)
    for provider in login.providers.values():
        facts.providers.append(_describe_provider(report, login, provider, several))
    return facts
