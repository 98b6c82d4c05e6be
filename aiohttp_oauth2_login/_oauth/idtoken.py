"""ID token validation (OIDC Core §3.1.3.7) and the JWKS cache; the only importer of pyjwt.

pyjwt checks signatures and registered claims; this module adds what it leaves to the caller:
the algorithm allow-list per provider, ``crit``, explicit typing (``typ``), key selection by
``kid``/``kty``/``use``, NumericDate types, ``azp``, ``iat`` bounds, ``nonce`` and ``sub``
(G7, G14; OIDC Core §3.1.3.7).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
from collections.abc import Sequence
from typing import Any

import aiohttp
import jwt

from .._clock import monotonic
from .._clock import now as wall_clock
from ..errors import InvalidIDToken, ProviderError
from ..log import logger, safe
from .http import HttpLimits, fetch_json
from .singleflight import SingleFlight

__all__ = ["ASYMMETRIC_ALGORITHMS", "JWKSCache", "validate_id_token"]

ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
_KTY_OF = {"RS": "RSA", "PS": "RSA", "ES": "EC", "Ed": "OKP"}
MAX_KEYS = 100  # a JWKS with more keys than this is truncated (hostile-provider bound)
REFETCH_COOLDOWN = 60.0  # seconds between refetches caused by unknown kids
LEEWAY = 60  # seconds of clock skew tolerated on exp/iat
MAX_IAT_AGE = 600  # an ID token issued longer ago than this is refused
#: the JOSE ``typ`` values an ID token may carry, compared case-insensitively (RFC 7515 §4.1.9:
#: ``application/`` may be left out). Absent is fine too: OpenID Connect Core defines no type
#: for ID tokens. Any other value is an explicitly typed other kind of JWT (RFC 8725 §3.11):
#: ``at+jwt`` (an RFC 9068 access token, which a provider may sign with the same key),
#: ``logout+jwt``, ``secevent+jwt``, ... and is refused.
ID_TOKEN_TYPES = frozenset({"jwt", "application/jwt"})
#: claims that are NumericDates (RFC 7519 §2, OIDC Core §2): when present, a JSON number
NUMERIC_DATE_CLAIMS = ("exp", "iat", "nbf", "auth_time")
#: the reason code (errors.REASONS) of pyjwt's refusals; any other one is ``id_token_claims``
_PYJWT_REASONS: dict[type[Exception], str] = {
    jwt.InvalidSignatureError: "id_token_signature",
    jwt.DecodeError: "id_token_malformed",
    jwt.InvalidIssuerError: "id_token_iss",
    jwt.InvalidAudienceError: "id_token_aud",
}


class _Key:
    __slots__ = ("alg", "jwk", "kid", "kty")

    def __init__(self, data: dict[str, Any]) -> None:
        self.kid = data.get("kid") if isinstance(data.get("kid"), str) else None
        self.kty = data["kty"]
        self.alg = data.get("alg") if isinstance(data.get("alg"), str) else None
        self.jwk = jwt.PyJWK(data)

    def fits(self, alg: str) -> bool:
        return self.kty == _KTY_OF.get(alg[:2]) and (self.alg is None or self.alg == alg)


def _parse_jwks(body: Any) -> list[_Key]:
    """Usable signature keys of a JWKS; ``oct`` keys, encryption keys and junk are skipped."""
    raw = body.get("keys") if isinstance(body, dict) else None
    if not isinstance(raw, list):
        raise ProviderError().explain("jwks_status")
    keys: list[_Key] = []
    for item in raw[:MAX_KEYS]:
        if not isinstance(item, dict) or item.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        if item.get("use", "sig") != "sig":
            continue
        try:
            keys.append(_Key(item))
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
            continue
    return keys


class JWKSCache:
    """A provider's signing keys: fetched lazily, refetched on an unknown ``kid`` (cooldown)."""

    def __init__(self) -> None:
        self._keys: list[_Key] | None = None
        self._refetched_at: float | None = None
        self._flight: SingleFlight[list[_Key]] = SingleFlight()

    async def _fetch(self, http: aiohttp.ClientSession, limits: HttpLimits, uri: str) -> list[_Key]:
        answer = await fetch_json(http, "GET", uri, limits, what="JWKS request", source="jwks")
        if answer.status != 200:
            logger.warning("JWKS request answered HTTP %d", answer.status)
            raise ProviderError().explain("jwks_status")
        keys = _parse_jwks(answer.body)
        self._keys = keys
        return keys

    async def keys(
        self, http: aiohttp.ClientSession, limits: HttpLimits, uri: str, *, refetch: bool = False
    ) -> list[_Key]:
        """The cached keys; ``refetch`` (an unknown ``kid``) asks for a fresh copy, at most once
        per cooldown so that tokens with made-up kids cannot make us hammer the provider.
        """
        if self._flight.running:
            return await self._flight.run(lambda: self._fetch(http, limits, uri))
        if refetch:
            now = monotonic()
            if self._refetched_at is not None and now - self._refetched_at < REFETCH_COOLDOWN:
                return self._keys or []
            self._refetched_at = now
        if self._keys is None or refetch:
            return await self._flight.run(lambda: self._fetch(http, limits, uri))
        return self._keys


def _select_key(keys: Sequence[_Key], kid: str | None, alg: str) -> _Key | None:
    fitting = [k for k in keys if k.fits(alg)]
    if kid is None:  # a kid-less token is accepted only when exactly one key fits
        return fitting[0] if len(fitting) == 1 else None
    matches = [k for k in fitting if k.kid == kid]
    return matches[0] if len(matches) == 1 else None


def _header(token: str) -> dict[str, Any]:
    """The JOSE header, read only to choose the algorithm and key: pyjwt then checks the whole
    token strictly (and reading the header this way costs a fraction of pyjwt's)."""
    head, dot, _ = token.partition(".")
    try:
        header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise InvalidIDToken().explain("id_token_malformed") from exc
    if not dot or token.count(".") != 2 or not isinstance(header, dict):
        raise InvalidIDToken().explain("id_token_malformed")
    return header


async def validate_id_token(
    token: str,
    *,
    http: aiohttp.ClientSession,
    limits: HttpLimits,
    jwks: JWKSCache,
    jwks_uri: str,
    issuer: str | Sequence[str],
    client_id: str,
    algorithms: Sequence[str],
    nonce: str | None,
    now: float | None = None,
) -> dict[str, Any]:
    """The verified claims of ``token``; ``InvalidIDToken`` for any failed check."""
    header = _header(token)
    alg, kid = header.get("alg"), header.get("kid")
    allowed = [a for a in algorithms if a in ASYMMETRIC_ALGORITHMS]
    if not isinstance(alg, str) or alg not in allowed:
        logger.warning("ID token refused: algorithm %s not allowed", safe(alg))
        raise InvalidIDToken().explain("id_token_alg")
    if "crit" in header:  # we implement no JWS extensions (RFC 7515 §4.1.11)
        raise InvalidIDToken().explain("id_token_malformed")
    if "typ" in header and not _is_id_token_type(header["typ"]):
        logger.warning("ID token refused: typ %s", safe(header["typ"]))
        raise InvalidIDToken().explain("id_token_typ")
    if kid is not None and not isinstance(kid, str):
        raise InvalidIDToken().explain("id_token_malformed")
    key = _select_key(await jwks.keys(http, limits, jwks_uri), kid, alg)
    if key is None:  # unknown kid: the provider may have rotated its keys
        key = _select_key(await jwks.keys(http, limits, jwks_uri, refetch=True), kid, alg)
    if key is None:
        logger.warning("ID token refused: no signing key for kid %s", safe(kid))
        raise InvalidIDToken().explain("id_token_key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.jwk.key,
            algorithms=[alg],
            audience=client_id,
            issuer=issuer,
            leeway=LEEWAY,
            # times are checked in _check_claims, on the package's one clock (``_clock``)
            options={
                "require": ["exp", "iat", "iss", "aud", "sub"],
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.PyJWTError as exc:
        logger.warning("ID token refused: %s", type(exc).__name__)
        raise InvalidIDToken().explain(_PYJWT_REASONS.get(type(exc), "id_token_claims")) from exc
    _check_claims(
        claims, client_id=client_id, nonce=nonce, now=wall_clock() if now is None else now
    )
    return claims


def _is_id_token_type(typ: object) -> bool:
    return isinstance(typ, str) and typ.lower() in ID_TOKEN_TYPES


def _is_numeric_date(value: object) -> bool:
    """A JSON number (RFC 7519 §2): not a numeric string, not a boolean, not NaN or infinite.
    pyjwt reads ``"1700000000"`` and ``true`` as numbers, so this is checked here."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _check_claims(claims: dict[str, Any], *, client_id: str, nonce: str | None, now: float) -> None:
    """The checks of OIDC Core §3.1.3.7 that pyjwt does not make, and the times (``exp``,
    ``nbf``, ``iat``) on the package's clock."""
    problem: str | None = None
    reason = "id_token_claims"
    iat, sub, aud, azp = claims.get("iat"), claims.get("sub"), claims.get("aud"), claims.get("azp")
    exp, nbf = claims.get("exp"), claims.get("nbf")
    wrong = [name for name in NUMERIC_DATE_CLAIMS if name in claims]
    wrong = [name for name in wrong if not _is_numeric_date(claims[name])]
    if wrong:
        problem = f"{wrong[0]} is not a NumericDate"
    elif not isinstance(iat, int | float):  # required by pyjwt; a number, checked above
        problem = "iat type"
    elif not isinstance(exp, int | float) or exp <= now - LEEWAY:
        problem, reason = "expired", "id_token_expired"
    elif isinstance(nbf, int | float) and nbf > now + LEEWAY:
        problem, reason = "not yet valid", "id_token_expired"
    elif iat > now + LEEWAY or iat < now - MAX_IAT_AGE - LEEWAY:
        problem, reason = "iat out of range", "id_token_iat"
    elif not isinstance(sub, str) or not sub or len(sub) > 255:
        problem = "sub"
    elif isinstance(aud, list) and len(aud) > 1 and azp is None:
        problem, reason = "azp missing with several audiences", "id_token_aud"
    elif azp is not None and azp != client_id:
        problem, reason = "azp", "id_token_aud"
    elif nonce is not None:
        got = claims.get("nonce")
        if not isinstance(got, str) or not hmac.compare_digest(got.encode(), nonce.encode()):
            problem, reason = "nonce", "id_token_nonce"
    if problem is not None:
        logger.warning("ID token refused: %s", problem)
        raise InvalidIDToken().explain(reason)
