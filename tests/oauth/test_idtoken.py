"""``validate_id_token`` against a JWKS served by a tiny aiohttp app (G4, G7).

Modelled on the OpenID Foundation's RP conformance tests (``rp-id_token-*``, ``rp-nonce-*``,
``rp-key-rotation-*``): each hostile token must raise ``InvalidIDToken``.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Sequence
from types import SimpleNamespace
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

import aiohttp_oauth2_login._clock as plugin_clock
from aiohttp_oauth2_login._oauth.http import HttpLimits
from aiohttp_oauth2_login._oauth.idtoken import (
    LEEWAY,
    MAX_IAT_AGE,
    REFETCH_COOLDOWN,
    JWKSCache,
    validate_id_token,
)
from aiohttp_oauth2_login.errors import InvalidIDToken, ProviderError

from ..support.jwt import CLIENT_ID, DROP, ISSUER, NONCE, b64, b64json, claims

LIMITS = HttpLimits(connect_timeout=2.0, total_timeout=2.0)


# ---- keys, tokens and the JWKS server -------------------------------------------------------


@functools.cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def ec_key(name: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def rsa_jwk(name: str, kid: str | None = None, **extra: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(rsa_key(name).public_key(), as_dict=True)
    jwk.update(use="sig", alg="RS256")
    if kid is not None:
        jwk["kid"] = kid
    jwk.update(extra)
    return {k: v for k, v in jwk.items() if v is not DROP}


def ec_jwk(name: str, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(ec_key(name).public_key(), as_dict=True)
    jwk.update(use="sig", alg="ES256", kid=kid)
    return jwk


def mint(
    payload: dict[str, Any] | None = None,
    *,
    key: str = "a",
    kid: str | None = "a",
    alg: str = "RS256",
    headers: dict[str, Any] | None = None,
) -> str:
    """An RS256 (or ES256) token signed by the named key."""
    extra = dict(headers or {})
    if kid is not None:
        extra["kid"] = kid
    private: Any = ec_key(key) if alg.startswith("ES") else rsa_key(key)
    return jwt.encode(claims() if payload is None else payload, private, alg, headers=extra)


def mint_raw(header: dict[str, Any], payload: dict[str, Any], signature: bytes) -> str:
    return f"{b64json(header)}.{b64json(payload)}.{b64(signature)}"


def mint_hs256(secret: bytes, *, kid: str | None = "a") -> str:
    """An HS256 token (pyjwt refuses to sign with a PEM secret, so by hand)."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    signing_input = f"{b64json(header)}.{b64json(claims())}".encode()
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return f"{signing_input.decode()}.{b64(signature)}"


def public_pem(name: str) -> bytes:
    return (
        rsa_key(name)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


class JwksServer:
    """The provider's key set; tests change ``keys`` to rotate, ``fetches`` counts requests."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = [rsa_jwk("a", "a")]
        self.fetches = 0
        self.delay = 0.05  # long enough for concurrent callers to overlap
        self.status = 200
        self.body: Any = None  # served instead of {"keys": keys} when set
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.fetches += 1
        await asyncio.sleep(self.delay)
        body = {"keys": self.keys} if self.body is None else self.body
        return web.json_response(body, status=self.status)


@pytest.fixture
async def server(aiohttp_server: Any) -> JwksServer:
    jwks = JwksServer()
    app = web.Application()
    app.router.add_get("/jwks", jwks.handle)
    running = await aiohttp_server(app)
    jwks.url = str(running.make_url("/jwks"))
    return jwks


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def cache() -> JWKSCache:
    return JWKSCache()


class Clock:
    """Moves ``_idtoken``'s monotonic clock forward (and only that module's)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    fake_time = SimpleNamespace(time=time.time, monotonic=lambda: time.monotonic() + clock.offset)
    monkeypatch.setattr(plugin_clock, "time", fake_time)
    return clock


@pytest.fixture
def check(server: JwksServer, http: aiohttp.ClientSession, cache: JWKSCache) -> Any:
    """``await check(token, nonce=..., algorithms=...)``: the claims, or InvalidIDToken."""

    async def run(
        token: str,
        *,
        nonce: str | None = NONCE,
        algorithms: Sequence[str] = ("RS256",),
        issuer: str = ISSUER,
    ) -> dict[str, Any]:
        return await validate_id_token(
            token,
            http=http,
            limits=LIMITS,
            jwks=cache,
            jwks_uri=server.url,
            issuer=issuer,
            client_id=CLIENT_ID,
            algorithms=algorithms,
            nonce=nonce,
        )

    return run


# ---- signatures and algorithms (G7) ---------------------------------------------


async def test_good_rs256_token(check: Any, server: JwksServer) -> None:
    result = await check(mint())
    assert result["sub"] == "user-1"
    assert result["nonce"] == NONCE
    assert server.fetches == 1
    await check(mint())  # cached
    assert server.fetches == 1


async def test_good_es256_token(check: Any, server: JwksServer) -> None:
    server.keys = [ec_jwk("e", "e")]
    result = await check(mint(key="e", kid="e", alg="ES256"), algorithms=["ES256"])
    assert result["sub"] == "user-1"


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
async def test_alg_none_is_refused(check: Any, alg: str) -> None:
    token = f"{b64json({'alg': alg, 'typ': 'JWT', 'kid': 'a'})}.{b64json(claims())}."
    with pytest.raises(InvalidIDToken):
        await check(token, algorithms=["RS256", alg])


@pytest.mark.parametrize("algorithms", [["RS256"], ["RS256", "HS256"], ["HS256"]])
async def test_hs256_signed_with_the_public_key_is_refused(
    check: Any, algorithms: list[str]
) -> None:
    """Key confusion: the RSA public key used as an HMAC secret."""
    for kid in ("a", None):
        with pytest.raises(InvalidIDToken):
            await check(mint_hs256(public_pem("a"), kid=kid), algorithms=algorithms)


async def test_oct_keys_in_the_jwks_are_ignored(check: Any, server: JwksServer) -> None:
    secret = b"shared-secret-shared-secret-1234"
    server.keys = [
        {"kty": "oct", "kid": "a", "k": b64(secret), "alg": "HS256", "use": "sig"},
        rsa_jwk("b", "b"),
    ]
    with pytest.raises(InvalidIDToken):
        await check(mint_hs256(secret, kid="a"), algorithms=["RS256", "HS256"])
    with pytest.raises(InvalidIDToken):
        await check(mint_hs256(secret, kid=None), algorithms=["RS256", "HS256"])
    # the oct key does not count as a second key: a kid-less token still finds the RSA key
    assert (await check(mint(key="b", kid=None)))["sub"] == "user-1"


@pytest.mark.parametrize(
    ("token_alg", "allowed"),
    [
        ("RS384", ["RS256"]),
        ("RS512", ["RS256"]),
        ("RS256", ["ES256"]),
        ("RS256", ["RS384", "PS256"]),
    ],
)
async def test_algorithm_outside_the_allow_list_is_refused(
    check: Any, server: JwksServer, token_alg: str, allowed: list[str]
) -> None:
    server.keys = [rsa_jwk("a", "a", alg=DROP)]  # a key usable with any RSA algorithm
    with pytest.raises(InvalidIDToken):
        await check(mint(alg=token_alg), algorithms=allowed)


async def test_key_published_for_another_algorithm_is_not_used(
    check: Any, server: JwksServer
) -> None:
    server.keys = [rsa_jwk("a", "a", alg="RS512")]
    with pytest.raises(InvalidIDToken):
        await check(mint(), algorithms=["RS256", "RS512"])


async def test_encryption_keys_are_not_signature_keys(check: Any, server: JwksServer) -> None:
    server.keys = [rsa_jwk("a", "a", use="enc")]
    with pytest.raises(InvalidIDToken):
        await check(mint())


@pytest.mark.parametrize("crit", [["exp"], ["b64"], ["urn:example:unknown"], []])
async def test_crit_header_is_refused(check: Any, crit: list[str]) -> None:
    with pytest.raises(InvalidIDToken):
        await check(mint(headers={"crit": crit, "urn:example:unknown": 1}))


async def test_bad_signature_is_refused(check: Any) -> None:
    with pytest.raises(InvalidIDToken):
        await check(mint(key="other", kid="a"))  # signed by a key that is not "a"
    good = mint()
    head, payload, signature = good.split(".")
    tampered_claims = claims(sub="admin")
    with pytest.raises(InvalidIDToken):
        await check(f"{head}.{b64json(tampered_claims)}.{signature}")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not-a-jwt",
        "a.b",
        "a.b.c.d",
        "....",
        "eyJhbGciOiJSUzI1NiJ9.e30",
        "%%%.%%%.%%%",
    ],
)
async def test_garbage_tokens_are_refused(check: Any, token: str) -> None:
    with pytest.raises(InvalidIDToken):
        await check(token)


@pytest.mark.parametrize("kid", [123, ["a"], {"a": 1}, True])
async def test_non_string_kid_is_refused(check: Any, kid: Any) -> None:
    header = {"alg": "RS256", "typ": "JWT", "kid": kid}
    signing_input = f"{b64json(header)}.{b64json(claims())}".encode()
    signature = rsa_key("a").sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    token = f"{signing_input.decode()}.{b64(signature)}"  # pyjwt will not encode this header
    with pytest.raises(InvalidIDToken):
        await check(token)


# ---- key selection and the JWKS cache (G7) --------------------------------------


async def test_kid_less_token_with_exactly_one_key(check: Any) -> None:
    assert (await check(mint(kid=None)))["sub"] == "user-1"


async def test_kid_less_token_with_two_keys_is_refused(check: Any, server: JwksServer) -> None:
    server.keys = [rsa_jwk("a", "a"), rsa_jwk("b", "b")]
    with pytest.raises(InvalidIDToken):
        await check(mint(kid=None))


async def test_duplicate_kids_are_refused(check: Any, server: JwksServer) -> None:
    server.keys = [rsa_jwk("b", "a"), rsa_jwk("a", "a")]
    with pytest.raises(InvalidIDToken):
        await check(mint())


async def test_unknown_kid_refetches_once_and_accepts_the_rotated_key(
    check: Any, server: JwksServer
) -> None:
    """``rp-key-rotation-op-sign-key``: the provider rotates right after our first fetch."""
    await check(mint())
    assert server.fetches == 1
    server.keys = [rsa_jwk("a", "a"), rsa_jwk("b", "b")]
    assert (await check(mint(key="b", kid="b")))["sub"] == "user-1"
    assert server.fetches == 2
    await check(mint(key="b", kid="b"))
    assert server.fetches == 2


async def test_unknown_kid_refetches_once_after_the_cooldown(
    check: Any, server: JwksServer, clock: Clock
) -> None:
    await check(mint())
    clock.advance(REFETCH_COOLDOWN + 1)
    server.keys = [rsa_jwk("b", "b")]  # the old key is gone
    assert (await check(mint(key="b", kid="b")))["sub"] == "user-1"
    assert server.fetches == 2
    with pytest.raises(InvalidIDToken):
        await check(mint())  # "a" was dropped; no refetch within the cooldown
    assert server.fetches == 2


async def test_refetch_cooldown(check: Any, server: JwksServer, clock: Clock) -> None:
    await check(mint())
    clock.advance(REFETCH_COOLDOWN + 1)
    with pytest.raises(InvalidIDToken):
        await check(mint(key="x", kid="x"))  # unknown: one refetch
    assert server.fetches == 2
    for kid in ("y", "z", "x"):  # more unknown kids right after: no more fetches
        with pytest.raises(InvalidIDToken):
            await check(mint(key=kid, kid=kid))
    assert server.fetches == 2
    clock.advance(REFETCH_COOLDOWN + 1)
    server.keys.append(rsa_jwk("x", "x"))
    assert (await check(mint(key="x", kid="x")))["sub"] == "user-1"
    assert server.fetches == 3


async def test_concurrent_first_validations_share_one_fetch(check: Any, server: JwksServer) -> None:
    results = await asyncio.gather(*(check(mint()) for _ in range(10)))
    assert [r["sub"] for r in results] == ["user-1"] * 10
    assert server.fetches == 1


async def test_concurrent_unknown_kids_coalesce_into_one_refetch(
    check: Any, server: JwksServer, clock: Clock
) -> None:
    await check(mint())
    clock.advance(REFETCH_COOLDOWN + 1)
    server.keys = [rsa_jwk("a", "a"), rsa_jwk("b", "b")]
    results = await asyncio.gather(*(check(mint(key="b", kid="b")) for _ in range(10)))
    assert [r["sub"] for r in results] == ["user-1"] * 10
    assert server.fetches == 2


async def test_concurrent_unknown_kids_right_after_rotation(check: Any, server: JwksServer) -> None:
    """Rotation right after the first fetch, ten logins at once: one refetch, all accepted."""
    await check(mint())
    server.keys = [rsa_jwk("a", "a"), rsa_jwk("b", "b")]
    results = await asyncio.gather(*(check(mint(key="b", kid="b")) for _ in range(10)))
    assert [r["sub"] for r in results] == ["user-1"] * 10
    assert server.fetches == 2


@pytest.mark.parametrize(
    ("body", "error"),
    [
        pytest.param({"keys": "nope"}, ProviderError, id="keys-not-a-list"),
        pytest.param({"no_keys": []}, ProviderError, id="no-keys-member"),
        pytest.param(["not", "an", "object"], ProviderError, id="not-an-object"),
        pytest.param("keys", ProviderError, id="a-string"),
        pytest.param({"keys": []}, InvalidIDToken, id="empty"),
        pytest.param({"keys": ["junk", 1, None]}, InvalidIDToken, id="junk-entries"),
    ],
)
async def test_unusable_jwks_fails_cleanly(
    check: Any, server: JwksServer, body: Any, error: type[Exception]
) -> None:
    server.body = body
    with pytest.raises(error):
        await check(mint())


async def test_jwks_http_error_is_a_provider_error(check: Any, server: JwksServer) -> None:
    server.status = 500
    with pytest.raises(ProviderError):
        await check(mint())


async def test_junk_keys_are_skipped(check: Any, server: JwksServer) -> None:
    server.keys = [
        "junk",
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        {"kty": "EC", "kid": "c", "crv": "P-256"},
        {"kid": "no-kty"},
        rsa_jwk("a", "a"),
    ]
    assert (await check(mint()))["sub"] == "user-1"


# ---- claims (G4, G7) -------------------------------------------------------------

REFUSED_CLAIMS = {
    "wrong_aud": {"aud": "someone-else"},
    "aud_list_without_us": {"aud": ["someone-else", "another"]},
    "multiple_aud_without_azp": {"aud": [CLIENT_ID, "someone-else"]},
    "wrong_azp": {"azp": "someone-else"},
    "wrong_azp_multiple_aud": {"aud": [CLIENT_ID, "someone-else"], "azp": "someone-else"},
    "aud_missing": {"aud": DROP},
    "wrong_iss": {"iss": "https://evil.example"},
    "iss_trailing_slash": {"iss": ISSUER + "/"},
    "iss_case": {"iss": ISSUER.upper()},
    "iss_missing": {"iss": DROP},
    "expired": {"iat": "now-900", "exp": "now-600"},
    "expired_beyond_leeway": {"exp": f"now-{LEEWAY + 30}"},
    "exp_missing": {"exp": DROP},
    "exp_string": {"exp": "tomorrow"},
    "iat_in_the_future": {"iat": "now+3600", "exp": "now+4000"},
    "iat_beyond_leeway": {"iat": f"now+{LEEWAY + 60}"},
    "iat_too_old": {"iat": "now-172800"},
    "iat_just_too_old": {"iat": f"now-{MAX_IAT_AGE + LEEWAY + 60}"},
    "iat_missing": {"iat": DROP},
    "iat_string": {"iat": "yesterday"},
    "iat_bool": {"iat": True},
    "nonce_mismatch": {"nonce": "another-nonce"},
    "nonce_missing": {"nonce": DROP},
    "nonce_not_a_string": {"nonce": 12345},
    "nonce_prefix": {"nonce": NONCE[:-1]},
    "sub_empty": {"sub": ""},
    "sub_missing": {"sub": DROP},
    "sub_not_a_string": {"sub": 42},
    "sub_too_long": {"sub": "x" * 256},
}


def _resolve(changes: dict[str, Any]) -> dict[str, Any]:
    """``"now±N"`` strings become timestamps relative to the current time."""
    now = int(time.time())
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if isinstance(value, str) and value.startswith("now"):
            value = now + int(value[3:] or 0)
        out[key] = value
    return out


@pytest.mark.parametrize("name", list(REFUSED_CLAIMS))
async def test_refused_claims(check: Any, name: str) -> None:
    token = mint(claims(**_resolve(REFUSED_CLAIMS[name])))
    with pytest.raises(InvalidIDToken):
        await check(token)


ACCEPTED_CLAIMS = {
    "plain": {},
    "azp_is_us": {"azp": CLIENT_ID},
    "multiple_aud_with_azp": {"aud": [CLIENT_ID, "someone-else"], "azp": CLIENT_ID},
    "aud_list_of_one": {"aud": [CLIENT_ID]},
    "expired_within_leeway": {"exp": f"now-{LEEWAY // 2}"},
    "iat_slightly_ahead": {"iat": f"now+{LEEWAY // 2}"},
    "iat_old_but_allowed": {"iat": f"now-{MAX_IAT_AGE}"},
    "extra_claims": {"email": "a@example.com", "auth_time": "now-5"},
}


@pytest.mark.parametrize("name", list(ACCEPTED_CLAIMS))
async def test_accepted_claims(check: Any, name: str) -> None:
    result = await check(mint(claims(**_resolve(ACCEPTED_CLAIMS[name]))))
    assert result["sub"] == "user-1"


async def test_nonce_is_not_checked_when_none_is_expected(check: Any) -> None:
    """Refreshed ID tokens carry no nonce (OIDC Core §12.2): ``nonce=None`` skips the check."""
    assert (await check(mint(claims(nonce=DROP)), nonce=None))["sub"] == "user-1"


async def test_nonce_is_checked_exactly(check: Any) -> None:
    with pytest.raises(InvalidIDToken):
        await check(mint(), nonce=NONCE + "x")
    with pytest.raises(InvalidIDToken):
        await check(mint(), nonce="")


async def test_several_accepted_issuers(
    server: JwksServer, http: aiohttp.ClientSession, cache: JWKSCache
) -> None:
    async def run(iss: str) -> dict[str, Any]:
        return await validate_id_token(
            mint(claims(iss=iss)),
            http=http,
            limits=LIMITS,
            jwks=cache,
            jwks_uri=server.url,
            issuer=(ISSUER, "issuer.example"),
            client_id=CLIENT_ID,
            algorithms=["RS256"],
            nonce=NONCE,
        )

    assert (await run("issuer.example"))["iss"] == "issuer.example"
    with pytest.raises(InvalidIDToken):
        await run("https://issuer.example.evil")


# ---- explicit typing (RFC 8725 §3.11) and NumericDate types (RFC 7519 §2) -------------------


def mint_typed(header: dict[str, Any], payload: dict[str, Any] | None = None) -> str:
    """An RS256 token signed by key ``a`` with exactly ``header`` (pyjwt would add ``typ``)."""
    signing_input = f"{b64json(header)}.{b64json(claims() if payload is None else payload)}"
    signature = rsa_key("a").sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


@pytest.mark.parametrize(
    "typ",
    [
        "at+jwt",  # RFC 9068 access token, possibly signed with the same key
        "AT+JWT",
        "application/at+jwt",
        "Application/At+JWT",
        "logout+jwt",  # OIDC Back-Channel Logout token
        "secevent+jwt",  # RFC 8417 security event token
        "token-introspection+jwt",
        "id_token+jwt",  # not a registered type: anything but JWT is refused
        "JOSE",
        "JWT ",
        " jwt",
        "",
        None,
        1,
        True,
        ["JWT"],
        {"typ": "JWT"},
    ],
)
async def test_explicitly_typed_other_tokens_are_refused(check: Any, typ: Any) -> None:
    with pytest.raises(InvalidIDToken):
        await check(mint_typed({"alg": "RS256", "kid": "a", "typ": typ}))


@pytest.mark.parametrize("typ", [DROP, "JWT", "jwt", "Jwt", "application/jwt", "APPLICATION/JWT"])
async def test_plain_jwt_type_or_none_is_accepted(check: Any, typ: Any) -> None:
    header: dict[str, Any] = {"alg": "RS256", "kid": "a"}
    if typ is not DROP:
        header["typ"] = typ
    assert (await check(mint_typed(header)))["sub"] == "user-1"


def _now() -> int:
    return int(time.time())


#: NumericDate claims (RFC 7519 §2: a JSON number) in another JSON type; pyjwt reads numeric
#: strings and booleans as numbers, so each of these validated before
NOT_NUMERIC_DATES: dict[str, Any] = {
    "exp_numeric_string": lambda now: {"exp": str(now + 300)},
    "exp_padded_string": lambda now: {"exp": f" {now + 300}"},
    "iat_numeric_string": lambda now: {"iat": str(now)},
    "nbf_numeric_string": lambda now: {"nbf": str(now - 10)},
    "nbf_false": lambda now: {"nbf": False},
    "nbf_null": lambda now: {"nbf": None},
    "auth_time_numeric_string": lambda now: {"auth_time": str(now - 5)},
    "auth_time_true": lambda now: {"auth_time": True},
    "auth_time_null": lambda now: {"auth_time": None},
    "auth_time_list": lambda now: {"auth_time": [now - 5]},
    "auth_time_object": lambda now: {"auth_time": {"$date": now - 5}},
    "auth_time_nan": lambda now: {"auth_time": float("nan")},
    "auth_time_infinity": lambda now: {"auth_time": float("inf")},
    "exp_infinity": lambda now: {"exp": float("inf")},
}


@pytest.mark.parametrize("name", list(NOT_NUMERIC_DATES))
async def test_numeric_dates_must_be_json_numbers(check: Any, name: str) -> None:
    token = mint_typed({"alg": "RS256", "kid": "a"}, claims(**NOT_NUMERIC_DATES[name](_now())))
    with pytest.raises(InvalidIDToken):
        await check(token)


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param(lambda now: {"exp": now + 300.5, "iat": now - 0.25}, id="fractional"),
        pytest.param(lambda now: {"nbf": now - 10, "auth_time": now - 5}, id="nbf-auth_time"),
        pytest.param(lambda now: {"auth_time": float(now - 5)}, id="auth_time-float"),
        pytest.param(lambda now: {"exp": 10**12}, id="far-future-exp"),
    ],
)
async def test_json_number_dates_are_accepted(check: Any, changes: Any) -> None:
    token = mint_typed({"alg": "RS256", "kid": "a"}, claims(**changes(_now())))
    assert (await check(token))["sub"] == "user-1"
