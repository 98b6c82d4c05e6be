"""RFC 6749 / 7636 / 7009 requests: the authorization URL, code exchange, refresh, revocation.

The only module that knows OAuth parameter names. Every back-channel call is bounded by
``fetch_json`` (no redirects, timeouts, size cap) and authenticates the client per provider, the
secret never in a URL (G6; RFC 6749 §2.3.1).
"""

from __future__ import annotations

import base64
from dataclasses import replace
from typing import TYPE_CHECKING
from urllib.parse import quote

import aiohttp
from yarl import URL

from ..errors import ProviderError, TokenValidationError
from ..log import logger, safe
from ..tokens import TokenSet
from .http import HttpLimits, fetch_json
from .transaction import Transaction, code_challenge

if TYPE_CHECKING:
    from .endpoints import Endpoints, OAuthClient

__all__ = ["authorization_url", "exchange_code", "refresh_tokens", "revoke_token"]


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


def _client_auth(provider: OAuthClient, data: dict[str, str]) -> dict[str, str]:
    """Add client authentication to a token/revocation request; returns the extra headers."""
    if provider.client_auth == "client_secret_basic" and provider.client_secret is not None:
        return basic_auth(provider.client_id, provider.client_secret)
    data["client_id"] = provider.client_id
    if provider.client_auth == "client_secret_post" and provider.client_secret is not None:
        data["client_secret"] = provider.client_secret
    return {}


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
        http, "POST", endpoints.token_url, limits, headers=headers, data=data, what=what
    )
    if answer.status != 200:
        body = answer.body
        error = body.get("error") if isinstance(body, dict) else None
        if answer.status in (400, 401) and isinstance(error, str | dict):
            # RFC 6749 §5.2 says a string; Facebook's Graph API sends an error object
            code = error if isinstance(error, str) else error.get("type", "error")
            logger.warning("%s refused by %s: %s", what, provider.name, safe(code, 40))
            raise TokenValidationError("The provider refused to issue tokens.")
        logger.warning("%s to %s answered HTTP %d", what, provider.name, answer.status)
        raise ProviderError()
    return TokenSet.from_response(answer.body)


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
    )
    return answer.status == 200
