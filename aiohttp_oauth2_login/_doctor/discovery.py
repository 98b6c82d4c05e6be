"""Checks that ask the provider: an OIDC provider's discovery document and JWKS, fetched with
the plugin's own limits (no redirects, its timeouts, its body cap: SECURITY.md G6), and the
clock skew read from the ``Date`` header."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp
from yarl import URL

from .._clock import now
from .._oauth.http import HttpLimits
from .._oauth.idtoken import ASYMMETRIC_ALGORITHMS, LEEWAY, _parse_jwks
from ..errors import OAuthLoginError
from ..log import logger
from ..providers.oidc import OIDCProvider
from .report import ProviderFacts, Report
from .setup_checks import check_endpoint_url

__all__ = ["SKEW_WARN", "check_oidc_provider"]

#: seconds of clock difference worth a warning; above the ID-token leeway it is a fault
SKEW_WARN = 30
#: discovery member -> the ``OIDCProvider`` attribute that overrides it
_ENDPOINTS = {
    "authorization_endpoint": "authorize_url",
    "token_endpoint": "token_url",
    "userinfo_endpoint": "userinfo_url",
    "jwks_uri": "jwks_uri",
    "revocation_endpoint": "revocation_url",
    "end_session_endpoint": "end_session_url",
}
_REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri")


@dataclass(slots=True)
class Fetched:
    """One GET: the JSON body (or ``error``, a sentence), and the times for the skew."""

    status: int = 0
    body: Any = None
    error: str | None = None
    server_time: float | None = None
    local_time: float = 0.0


async def fetch(http: aiohttp.ClientSession, url: str, limits: HttpLimits) -> Fetched:
    """GET ``url`` as the plugin would: no redirects, its timeouts and body cap."""
    result = Fetched()
    sent = now()
    try:
        async with http.get(
            url,
            headers={"Accept": "application/json"},
            allow_redirects=False,
            timeout=limits.client_timeout,
        ) as resp:
            result.local_time = (sent + now()) / 2
            result.status = resp.status
            result.server_time = _server_time(resp.headers)
            if 300 <= resp.status < 400:
                where = resp.headers.get("Location", "?")
                result.error = (
                    f"answered a redirect (HTTP {resp.status} to {where}): the plugin never "
                    "follows redirects"
                )
                return result
            raw = bytearray()
            async for chunk in resp.content.iter_chunked(64 * 1024):
                raw += chunk
                if len(raw) > limits.max_body:
                    result.error = f"answered more than {limits.max_body} bytes"
                    return result
    except asyncio.TimeoutError:
        result.error = f"no answer within {limits.total_timeout:g} s (http_timeout)"
        return result
    except aiohttp.ClientError as exc:
        result.error = f"unreachable ({type(exc).__name__}: {exc})"
        return result
    try:
        result.body = json.loads(raw)
    except (ValueError, RecursionError):
        result.error = f"answered HTTP {result.status} without JSON"
    return result


def _server_time(headers: Mapping[str, str]) -> float | None:
    """The server's clock: ``Date`` plus ``Age`` (a cached copy's ``Date`` is older)."""
    date = headers.get("Date")
    if date is None:
        return None
    try:
        when = parsedate_to_datetime(date).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    age = headers.get("Age", "0")
    return when + (int(age) if age.isdigit() else 0) + 0.5  # Date is rounded down


def _check_skew(report: Report, subject: str, fetched: Fetched) -> None:
    if fetched.server_time is None:
        report.add(
            "WARN",
            "clock.unknown",
            subject,
            "the provider sent no usable Date header: clock skew not measured",
            "make sure this machine's clock is synchronised (NTP)",
        )
        return
    skew = round(fetched.server_time - fetched.local_time)
    ahead = "the provider's clock is ahead" if skew > 0 else "this machine's clock is ahead"
    message = f"clock skew {abs(skew)} s ({ahead})"
    fix = "synchronise this machine's clock (NTP)"
    if abs(skew) > LEEWAY:
        report.add(
            "FAULT",
            "clock.skew",
            subject,
            f"{message}: more than the {LEEWAY} s the ID-token check tolerates, so "
            "ID tokens will be refused as issued in the future or expired",
            fix,
        )
    elif abs(skew) > SKEW_WARN:
        report.add("WARN", "clock.skew", subject, f"{message}: close to the {LEEWAY} s limit", fix)
    else:
        report.add("OK", "clock.skew", subject, f"clock skew {abs(skew)} s")


def _check_issuer(report: Report, subject: str, configured: str, doc: Mapping[str, Any]) -> bool:
    found = doc.get("issuer")
    if found == configured:
        report.add("OK", "discovery.issuer", subject, f"issuer {configured}")
        return True
    if isinstance(found, str) and found.rstrip("/") == configured.rstrip("/"):
        detail = "they differ only by the trailing slash, which counts"
    else:
        detail = "the plugin refuses every login from it"
    report.add(
        "FAULT",
        "discovery.issuer",
        subject,
        f"discovery names the issuer {found!r}, the configuration says {configured!r}: {detail}",
        f"set issuer={found!r} exactly (OIDC Discovery §4.3)"
        if isinstance(found, str)
        else "the discovery document has no issuer: check the issuer URL",
    )
    return False


def _check_features(
    report: Report, subject: str, provider: OIDCProvider, doc: Mapping[str, Any]
) -> tuple[str, ...]:
    """RFC 9207 ``iss``, PKCE S256, the ``code`` response type and the ID-token algorithms;
    returns the algorithms the plugin will accept."""
    if doc.get("authorization_response_iss_parameter_supported") is True:
        report.add(
            "OK",
            "discovery.iss_parameter",
            subject,
            "sends iss in the authorization response (RFC 9207)",
        )
    else:
        report.add(
            "WARN",
            "discovery.iss_parameter",
            subject,
            "does not announce authorization_response_iss_parameter_supported: the RFC 9207 "
            "mix-up defence works only if it sends iss anyway",
            "nothing to set here if the provider lacks it; keep each provider's issuer distinct "
            "(SECURITY.md G5)",
        )
    methods = doc.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" in methods:
        report.add("OK", "discovery.pkce", subject, "PKCE S256 supported")
    elif isinstance(methods, list):
        report.add(
            "FAULT",
            "discovery.pkce",
            subject,
            f"code_challenge_methods_supported is {methods}: no S256, and the plugin always "
            "sends S256 (SECURITY.md G3)",
            "enable PKCE with S256 for this client at the provider",
        )
    else:
        report.add(
            "WARN",
            "discovery.pkce",
            subject,
            "does not announce code_challenge_methods_supported: PKCE S256 support unknown",
            "check that the provider accepts PKCE S256 for this client (SECURITY.md G3)",
        )
    types = doc.get("response_types_supported")
    if isinstance(types, list) and "code" in types:
        report.add("OK", "discovery.response_type", subject, "response type code supported")
    else:
        report.add(
            "FAULT",
            "discovery.response_type",
            subject,
            f"response_types_supported is {types!r}: no 'code', the only flow the plugin runs",
            "enable the authorization-code flow for this client (SECURITY.md G1)",
        )
    return _check_algorithms(report, subject, provider, doc)


def _check_algorithms(
    report: Report, subject: str, provider: OIDCProvider, doc: Mapping[str, Any]
) -> tuple[str, ...]:
    announced = doc.get("id_token_signing_alg_values_supported")
    if not isinstance(announced, list):
        report.add(
            "WARN",
            "discovery.algorithms",
            subject,
            "does not announce id_token_signing_alg_values_supported: the plugin assumes RS256",
            "set OIDCProvider(id_token_algorithms=[...]) to what the provider signs with",
        )
        return provider.id_token_algorithms or ("RS256",)
    usable = tuple(a for a in announced if a in ASYMMETRIC_ALGORITHMS)
    if provider.id_token_algorithms is not None:
        chosen = provider.id_token_algorithms
        if not set(chosen) & set(announced):
            report.add(
                "FAULT",
                "discovery.algorithms",
                subject,
                f"id_token_algorithms={list(chosen)} but the provider signs with {announced}",
                "set id_token_algorithms to algorithms the provider announces",
            )
            return chosen
    elif not usable:
        report.add(
            "FAULT",
            "discovery.algorithms",
            subject,
            f"ID tokens are signed with {announced} only: the plugin accepts asymmetric "
            "signatures only (no 'none', no HS256), so every login is refused (SECURITY.md G7)",
            "configure the client at the provider to sign ID tokens with RS256 or ES256",
        )
        return ("RS256",)
    else:
        chosen = usable
    report.add("OK", "discovery.algorithms", subject, f"ID-token algorithms {', '.join(chosen)}")
    return chosen


def _is_absolute(value: object) -> bool:
    try:
        return isinstance(value, str) and URL(value).absolute and URL(value).host is not None
    except (ValueError, TypeError):
        return False


def _endpoints(
    report: Report, subject: str, provider: OIDCProvider, doc: Mapping[str, Any]
) -> dict[str, str | None]:
    """The endpoints the plugin will use (configuration overrides discovery), each checked."""
    found: dict[str, str | None] = {}
    fine = True
    for member, attr in _ENDPOINTS.items():
        value = getattr(provider, attr) or doc.get(member)
        if value is not None and not _is_absolute(value):
            report.add(
                "FAULT",
                "discovery.endpoint",
                subject,
                f"discovery's {member} is not an absolute URL: {value!r}",
                f"ask the provider's admin, or set {attr}= in the OIDCProvider",
            )
            fine, value = False, None
        if value is None and member in _REQUIRED:
            report.add(
                "FAULT",
                "discovery.endpoint",
                subject,
                f"discovery has no {member}, which the plugin needs",
                f"set {attr}= in the OIDCProvider",
            )
            fine = False
        fine = check_endpoint_url(report, subject, member, value) and fine
        found[member] = value
    if fine:
        origins = sorted({str(URL(u).origin()) for u in found.values() if u})
        report.add("OK", "endpoint.https", subject, "endpoints at " + ", ".join(origins))
    return found


async def _check_jwks(
    report: Report,
    subject: str,
    http: aiohttp.ClientSession,
    limits: HttpLimits,
    uri: str,
    algorithms: tuple[str, ...],
) -> None:
    fetched = await fetch(http, uri, limits)
    if fetched.error is None and fetched.status != 200:
        fetched.error = f"answered HTTP {fetched.status}"
    if fetched.error is not None:
        report.add(
            "FAULT",
            "jwks.unreachable",
            subject,
            f"the JWKS {uri} {fetched.error}: no ID token can be verified",
            "check jwks_uri and that this machine can reach it",
        )
        return
    try:
        keys = _parse_jwks(fetched.body)
    except OAuthLoginError:
        keys = []
    fitting = [k for k in keys if any(k.fits(a) for a in algorithms)]
    if not fitting:
        report.add(
            "FAULT",
            "jwks.no_keys",
            subject,
            f"the JWKS has {len(keys)} usable signature key(s), none for {', '.join(algorithms)}",
            "check the provider's signing keys (RSA/EC/OKP, use=sig) and id_token_algorithms",
        )
        return
    report.add("OK", "jwks", subject, f"JWKS has {len(fitting)} key(s) for the ID-token algorithms")


class _Capture(logging.Handler):
    """The plugin's own log lines while it runs its discovery (they say why it refuses)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


async def _plugin_accepts(
    report: Report,
    subject: str,
    provider: OIDCProvider,
    http: aiohttp.ClientSession,
    limits: HttpLimits,
) -> None:
    """Run the plugin's own discovery too: what it refuses the doctor must not call fine."""
    capture = _Capture()
    logger.addHandler(capture)
    try:
        await provider.endpoints(http, limits)
    except OAuthLoginError:
        why = "; ".join(capture.lines) or "no reason logged"
        report.add(
            "FAULT",
            "discovery.refused",
            subject,
            f"the plugin's own discovery refuses this provider: {why}",
            "fix the faults above",
        )
    finally:
        logger.removeHandler(capture)


async def check_oidc_provider(
    report: Report,
    subject: str,
    provider: OIDCProvider,
    facts: ProviderFacts,
    http: aiohttp.ClientSession,
    limits: HttpLimits,
) -> None:
    """Every discovery check of one OIDC provider (faults are named; nothing raises)."""
    issuer = provider.issuer
    assert issuer is not None  # noqa: S101 - required by OIDCProvider
    check_endpoint_url(report, subject, "issuer", issuer)
    url = provider.discovery_url
    fetched = await fetch(http, url, limits)
    if fetched.error is None and fetched.status != 200:
        fetched.error = f"answered HTTP {fetched.status}"
    elif fetched.error is None and not isinstance(fetched.body, dict):
        fetched.error = "answered JSON that is not an object"
    if fetched.error is not None:
        report.add(
            "FAULT",
            "discovery.unreachable",
            subject,
            f"discovery {url} {fetched.error}",
            f"check the issuer ({issuer}) and that this machine can reach it "
            "(DNS, proxy, firewall)",
        )
        return
    doc: dict[str, Any] = fetched.body
    report.add("OK", "discovery", subject, f"discovery document at {url}")
    _check_skew(report, subject, fetched)
    issuer_ok = _check_issuer(report, subject, issuer, doc)
    algorithms = _check_features(report, subject, provider, doc)
    facts.endpoints = _endpoints(report, subject, provider, doc)
    jwks_uri = facts.endpoints.get("jwks_uri")
    if jwks_uri is not None:
        await _check_jwks(report, subject, http, limits, jwks_uri, algorithms)
    if issuer_ok:
        await _plugin_accepts(report, subject, provider, http, limits)
