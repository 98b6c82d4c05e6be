"""The grant rules of the fake authorization server: which authorization requests it accepts
(RFC 6749 §4.1.2.1, PKCE S256 only, RFC 7636 §4.3) and when an authorization code (RFC 6749
§4.1.3, RFC 7636 §4.6) or a refresh token (RFC 6749 §6, rotated per RFC 9700 §4.14.2) redeems.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Mapping

from aiohttp import web

from .http import oauth_error
from .mint import TokenMint
from .model import Code, Grant, b64

_CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}")


def authorize_error(query: Mapping[str, str], *, repeated: bool) -> tuple[str, str] | None:
    """The RFC 6749 §4.1.2.1 error for an authorization request, if it is not acceptable."""
    if repeated:
        return "invalid_request", "repeated parameter"
    response_type = query.get("response_type")
    if response_type is None:
        return "invalid_request", "response_type is required"
    if response_type != "code":
        return "unsupported_response_type", "only response_type=code is supported"
    if query.get("code_challenge_method") != "S256":
        return "invalid_request", "PKCE with code_challenge_method=S256 is required"
    if not _CHALLENGE_RE.fullmatch(query.get("code_challenge", "")):
        return "invalid_request", "code_challenge must be 43 base64url characters"
    return None


def redeem_code(mint: TokenMint, form: Mapping[str, str]) -> Code | web.Response:
    """The code *form* presents, now used up, or the error response that refuses it."""
    code = mint.codes.get(form.get("code", ""))
    if code is None:
        return oauth_error("invalid_grant", "unknown authorization code")
    if code.used:
        if code.grant is not None:  # RFC 6749 §4.1.2: revoke what the code produced
            code.grant.revoked = True
        return oauth_error("invalid_grant", "authorization code already used")
    code.used = True
    if code.expires_at < time.time():
        return oauth_error("invalid_grant", "authorization code expired")
    if form.get("redirect_uri") != code.request.redirect_uri:
        return oauth_error("invalid_grant", "redirect_uri does not match")
    verifier = form.get("code_verifier", "")
    if not _VERIFIER_RE.fullmatch(verifier):
        return oauth_error("invalid_grant", "a valid code_verifier is required")
    computed = b64(hashlib.sha256(verifier.encode("ascii")).digest())
    if not hmac.compare_digest(computed, code.request.code_challenge):
        return oauth_error("invalid_grant", "code_verifier does not match code_challenge")
    return code


def redeem_refresh_token(mint: TokenMint, form: Mapping[str, str]) -> Grant | web.Response:
    """The grant whose current refresh token *form* presents, or the error response."""
    token = form.get("refresh_token", "")
    grant = mint.refresh_tokens.get(token)
    if grant is None or grant.revoked:
        return oauth_error("invalid_grant", "unknown or revoked refresh token")
    if not hmac.compare_digest(token, grant.refresh_token):
        grant.revoked = True  # a rotated token came back: assume theft (RFC 9700 §4.14.2)
        return oauth_error("invalid_grant", "refresh token reused; the grant is revoked")
    requested = form.get("scope")
    if requested is not None and not set(requested.split()) <= set(grant.scope.split()):
        return oauth_error("invalid_scope", "scope exceeds the original grant")
    return grant
