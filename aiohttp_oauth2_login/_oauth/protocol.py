"""RFC 6749 / 7636 / 7009 requests: the authorization URL, code exchange, refresh, revocation.

The only module that knows OAuth parameter names. Every back-channel call is bounded by
``fetch_json`` (no redirects, timeouts, size cap) and authenticates the client per provider, the
secret never in a URL (G6; RFC 6749 §2.3.1).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import aiohttp
from yarl import URL

from .._lograte import warning_level
from ..errors import (
    REASONS,
    LoginFlowError,
    ProviderError,
    SignInMisconfigured,
    TokenValidationError,
)
from ..log import logger, one_line, safe
from ..tokens import TokenSet
from .http import HttpLimits, fetch_json
from .transaction import Transaction, code_challenge

if TYPE_CHECKING:
    from .endpoints import Endpoints, OAuthClient

__all__ = [
    "CONFIG_ERRORS",
    "authorization_url",
    "env_prefix",
    "exchange_code",
    "explain_refusal",
    "refresh_tokens",
    "revoke_token",
]


def authorization_url(
    provider: OAuthClient, endpoints: Endpoints, *, redirect_uri: str, tx: Transaction
) -> str:
    """The URL that starts the code flow: state, PKCE S256 and (OIDC) nonce always included."""
    params = provider.extra_authorize_params()
    params.update(
        response_type="code",
        client_id=provider.client_id,
        redirect_uri=redirect_uri,
        state=tx.state,
        code_challenge=code_challenge(tx.verifier),
        code_challenge_method="S256",
    )
    if provider.scopes:
        params["scope"] = " ".join(provider.scopes)
    if tx.nonce is not None:
        params["nonce"] = tx.nonce
    return str(URL(endpoints.authorize_url).update_query(params))


def basic_auth(client_id: str, client_secret: str) -> dict[str, str]:
    """HTTP Basic client authentication; RFC 6749 §2.3.1 form-urlencodes id and secret first."""
    pair = f"{quote(client_id, safe='')}:{quote(client_secret, safe='')}"
    return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode("ascii")}


def _hidden(provider: OAuthClient, *values: str) -> list[str]:
    """What a logged provider answer must never show of a request: ``values``, the client
    secret, and the secret's Basic credentials (G21)."""
    hide = [*values]
    if provider.client_secret:
        hide.append(provider.client_secret)
        if provider.client_auth == "client_secret_basic":
            hide.append(basic_auth(provider.client_id, provider.client_secret)["Authorization"][6:])
    return hide


def _client_auth(provider: OAuthClient, data: dict[str, str]) -> dict[str, str]:
    """Add client authentication to a token/revocation request; returns the extra headers."""
    if provider.client_auth == "client_secret_basic" and provider.client_secret is not None:
        return basic_auth(provider.client_id, provider.client_secret)
    data["client_id"] = provider.client_id
    if provider.client_auth == "client_secret_post" and provider.client_secret is not None:
        data["client_secret"] = provider.client_secret
    return {}


def env_prefix(name: str) -> str:
    """The environment variable prefix ``from_env`` reads for provider ``name`` (``GITHUB``)."""
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


#: token-endpoint error codes (RFC 6749 §5.2 and providers' own) that mean this site's client
#: settings are wrong: retrying cannot help, the operator must fix them (``SignInMisconfigured``)
CONFIG_ERRORS: Mapping[str, str] = {
    "invalid_client": "client_secret",
    "incorrect_client_credentials": "client_secret",  # GitHub, with HTTP 200
    "unauthorized_client": "unauthorized_client",
    "unsupported_grant_type": "unauthorized_client",
    "redirect_uri_mismatch": "redirect_uri",  # GitHub, Google
    "invalid_scope": "scope",
}
#: the visitor's own problem: the code expired or was used (GitHub: bad_verification_code)
_CODE_ERRORS = frozenset({"invalid_grant", "bad_verification_code"})
#: Facebook's Graph API OAuthException ``code`` / ``error_subcode`` at the token endpoint
#: ("Handling Errors"): 1 "Error validating client secret.", 101 "Invalid application ID.",
#: 191 and 36008 redirect_uri mismatch, 36007 / 36009 code expired / already used
_FACEBOOK_CODES: Mapping[int, str] = {1: "client_secret", 101: "client_id", 191: "redirect_uri"}
_FACEBOOK_SUBCODES: Mapping[int, str] = {
    36008: "redirect_uri",
    36007: "code_rejected",
    36009: "code_rejected",
}
_MAX_LOGGED_DESCRIPTION = 200


def _refusal(body: Any) -> tuple[str, str | None, str] | None:
    """The provider's error in an answer: (its code, its description, our reason), or ``None``
    when the answer is no error object. RFC 6749 §5.2 says ``error`` is a string; Facebook's
    Graph API sends an object (``type``, ``code``, ``error_subcode``, ``message``)."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        described = body.get("error_description")
        reason = CONFIG_ERRORS.get(error)
        if reason is None:
            reason = "code_rejected" if error in _CODE_ERRORS else "token_refused"
        return error, described if isinstance(described, str) else None, reason
    if isinstance(error, dict):
        kind, number, sub = error.get("type"), error.get("code"), error.get("error_subcode")
        code = f"{kind if isinstance(kind, str) else 'error'} {number}" + (
            f"/{sub}" if isinstance(sub, int) else ""
        )
        reason = (_FACEBOOK_SUBCODES.get(sub) if isinstance(sub, int) else None) or (
            _FACEBOOK_CODES.get(number) if isinstance(number, int) else None
        )
        message = error.get("message")
        return code, message if isinstance(message, str) else None, reason or "token_refused"
    return None


def explain_refusal(
    provider: OAuthClient,
    endpoints: Endpoints,
    what: str,
    refusal: tuple[str, str | None, str],
    *,
    redirect_uri: str | None = None,
    hide: Sequence[str] = (),
) -> str:
    """Log the provider's own error (code and sanitised description: one line, bounded, never a
    value of ``hide``) at WARNING with what to check; returns the reason code. The description
    is the operator's clue only: it never decides anything (the code does)."""
    code, described, reason = refusal
    forms = {form for value in hide if value for form in (value, quote(value, safe=""))}
    forms |= {quote_plus(value) for value in hide if value}  # as a form body encodes it
    # longest first: a secret that contains a shorter hidden value (the client_id) goes whole;
    # before it is cut (the body is at most 1 MiB): not even a prefix
    for value in sorted(forms, key=len, reverse=True):
        if described:
            described = described.replace(value, "[redacted]")
    said = one_line(described, _MAX_LOGGED_DESCRIPTION) if described else None
    check = REASONS[reason].check_for(
        provider=provider.name,
        env=env_prefix(provider.name),
        redirect_uri=safe(redirect_uri or "?", 300),
        issuer=safe(endpoints.issuer or "?", 300),
    )
    logger.log(
        warning_level("refused:" + reason),  # one WARNING per reason a minute, then INFO
        "%s refused by %s: error=%s%s; reason=%s; check: %s",
        what,
        provider.name,
        safe(code, 60),
        f" description={said!r}" if said else "",
        reason,
        check,
    )
    return reason


async def _token_request(
    http: aiohttp.ClientSession,
    provider: OAuthClient,
    endpoints: Endpoints,
    limits: HttpLimits,
    data: dict[str, str],
    what: str,
) -> TokenSet:
    headers = {**_client_auth(provider, data), **provider.token_request_headers()}
    answer = await fetch_json(
        http,
        "POST",
        endpoints.token_url,
        limits,
        headers=headers,
        data=data,
        what=what,
        source="token",
    )
    # GitHub answers its errors with HTTP 200 and an ``error`` member
    refusal = _refusal(answer.body) if answer.status in (200, 400, 401) else None
    if refusal is not None:
        sent = [v for k, v in data.items() if k != "grant_type" and k != "redirect_uri"]
        reason = explain_refusal(
            provider,
            endpoints,
            what,
            refusal,
            redirect_uri=data.get("redirect_uri"),
            hide=_hidden(provider, *sent),
        )
        exc: LoginFlowError
        if reason in ("code_rejected", "token_refused"):
            exc = TokenValidationError("The provider refused to issue tokens.")
        else:
            exc = SignInMisconfigured()
        exc.explain(reason).logged = True
        raise exc
    if answer.status != 200:
        logger.warning("%s to %s answered HTTP %d", what, provider.name, answer.status)
        raise ProviderError().explain("token_status")
    try:
        return TokenSet.from_response(answer.body)
    except TokenValidationError as exc:
        exc.explain("token_invalid")
        raise


async def exchange_code(
    http: aiohttp.ClientSession,
    provider: OAuthClient,
    endpoints: Endpoints,
    limits: HttpLimits,
    *,
    code: str,
    redirect_uri: str,
    verifier: str,
) -> TokenSet:
    """Redeem an authorization code (RFC 6749 §4.1.3) with the PKCE verifier (RFC 7636 §4.5)."""
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }
    return await _token_request(http, provider, endpoints, limits, data, "code exchange")


async def refresh_tokens(
    http: aiohttp.ClientSession,
    provider: OAuthClient,
    endpoints: Endpoints,
    limits: HttpLimits,
    refresh_token: str,
) -> TokenSet:
    """Use a refresh token (RFC 6749 §6); the old refresh token is kept if none is returned."""
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    fresh = await _token_request(http, provider, endpoints, limits, data, "token refresh")
    if fresh.refresh_token is None:
        fresh = replace(fresh, refresh_token=refresh_token)
    return fresh


async def revoke_token(
    http: aiohttp.ClientSession,
    provider: OAuthClient,
    endpoints: Endpoints,
    limits: HttpLimits,
    token: str,
    hint: str,
) -> bool:
    """Revoke a token (RFC 7009); ``False`` when the provider has no endpoint or refused."""
    if endpoints.revocation_url is None:
        return False
    data = {"token": token, "token_type_hint": hint}
    headers = _client_auth(provider, data)
    answer = await fetch_json(
        http,
        "POST",
        endpoints.revocation_url,
        limits,
        headers=headers,
        data=data,
        what="token revocation",
        parse=False,
        source="revocation",
    )
    refusal = _refusal(answer.body) if answer.status in (400, 401) else None
    if refusal is not None and refusal[2] in CONFIG_ERRORS.values():
        hide = _hidden(provider, token, provider.client_id)
        explain_refusal(provider, endpoints, "token revocation", refusal, hide=hide)
    return answer.status == 200
