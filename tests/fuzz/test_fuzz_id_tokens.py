"""Fuzzing ID tokens (G4, G7): ``validate_id_token`` against a JWKS we serve.

The JWKS (served by a tiny aiohttp app) holds an RSA signing key (``rsa-1``, RS256), an EC P-256
key (``ec-1``), an ``oct`` key (``oct-1``, must be ignored) and an RSA encryption key
(``enc-1``, ``use=enc``, must be ignored). Tokens are built by hand, so headers and claims can be
anything, and signed with any of those keys, the RSA public key as an HMAC secret, or nothing.

Properties: only ``InvalidIDToken``/``ProviderError`` (the package's own errors) are raised;
garbage never validates; a token validates only when it is signed by the key its ``alg`` and
``kid`` select (RS256 by ``rsa-1`` or ES256 by ``ec-1``, the kid absent or naming that key, no
``crit``, no ``typ`` but JWT: RFC 8725 §3.11), and only when its claims pass an independent
oracle of OIDC Core §3.1.3.7 (``exp``, ``iat``, ``nbf``, ``auth_time`` JSON numbers as RFC 7519
§2 says, exact ``iss``, ``aud`` containing the client, ``azp`` with several audiences, ``exp`` in
the future, ``iat`` neither in the future nor older than ten minutes, the transaction's
``nonce``, a non-empty ``sub``); made-up kids make at most one JWKS refetch per cooldown.

Examples per input in the ``ci`` profile (see conftest.py):

- garbage tokens (text, random segments, random JSON with random signatures): 500
- random headers with a real signature and valid claims: 300
- validly signed tokens with random claims: 400
- validly signed tokens whose payload is any JSON value: 100
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import example, given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from aiohttp_oauth2_login._oauth.http import HttpLimits
from aiohttp_oauth2_login._oauth.idtoken import LEEWAY, MAX_IAT_AGE, REFETCH_COOLDOWN, JWKSCache
from aiohttp_oauth2_login._oauth.idtoken import validate_id_token as validate
from aiohttp_oauth2_login.errors import InvalidIDToken, ProviderError

from ..support.jwt import CLIENT_ID, ISSUER, NONCE, b64, b64json
from ..support.jwt import claims as good_claims
from . import Runner, examples, record

LIMITS = HttpLimits(connect_timeout=5.0, total_timeout=5.0)
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ENC_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OCT_SECRET = b"an-oct-key-that-must-be-ignored!"
PUBLIC_PEM = RSA_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
)


def _jwks() -> dict[str, Any]:
    rsa_jwk = RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True)
    enc_jwk = RSAAlgorithm.to_jwk(ENC_KEY.public_key(), as_dict=True)
    ec_jwk = ECAlgorithm.to_jwk(EC_KEY.public_key(), as_dict=True)
    return {
        "keys": [
            {**rsa_jwk, "kid": "rsa-1", "use": "sig", "alg": "RS256"},
            {**ec_jwk, "kid": "ec-1", "use": "sig"},
            {"kty": "oct", "kid": "oct-1", "k": b64(OCT_SECRET)},
            {**enc_jwk, "kid": "enc-1", "use": "enc"},
        ]
    }


SIGNERS = ("rsa", "ec", "enc", "hs-oct", "hs-pem", "none", "junk")


def sign(signer: str, signing_input: bytes) -> bytes:
    if signer == "rsa":
        return RSA_KEY.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    if signer == "enc":
        return ENC_KEY.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    if signer == "ec":
        r, s = decode_dss_signature(EC_KEY.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if signer == "hs-oct":
        return hmac.new(OCT_SECRET, signing_input, hashlib.sha256).digest()
    if signer == "hs-pem":
        return hmac.new(PUBLIC_PEM, signing_input, hashlib.sha256).digest()
    if signer == "none":
        return b""
    return hashlib.sha512(signing_input).digest()


def mint(header: Any, claims: Any, signer: str) -> str:
    signing_input = f"{b64json(header)}.{b64json(claims)}".encode()
    return f"{signing_input.decode()}.{b64(sign(signer, signing_input))}"


class Jwks:
    def __init__(self) -> None:
        self.fetches = 0
        self.app = web.Application()
        self.app.router.add_get("/jwks", self._jwks)
        self.server = TestServer(self.app)
        self.document = _jwks()

    async def _jwks(self, request: web.Request) -> web.Response:
        self.fetches += 1
        return web.json_response(self.document)


class Validator:
    """``validate_id_token`` as the OIDC provider calls it, with one shared JWKS cache."""

    def __init__(self, runner: Runner, jwks: Jwks) -> None:
        self.runner = runner
        self.jwks = jwks
        self.cache = JWKSCache()
        self.started = time.monotonic()
        self.http: aiohttp.ClientSession

    async def start(self) -> None:
        await self.jwks.server.start_server()
        self.http = aiohttp.ClientSession()

    async def stop(self) -> None:
        await self.http.close()
        await self.jwks.server.close()

    def __call__(self, token: str) -> dict[str, Any]:
        """The verified claims; raises what ``validate_id_token`` raises."""
        return self.runner.run(
            validate(
                token,
                http=self.http,
                limits=LIMITS,
                jwks=self.cache,
                jwks_uri=str(self.jwks.server.make_url("/jwks")),
                issuer=(ISSUER,),
                client_id=CLIENT_ID,
                algorithms=("RS256", "ES256"),
                nonce=NONCE,
            )
        )

    def check_refetches(self) -> None:
        """Made-up kids refetch the JWKS at most once per cooldown (G7)."""
        elapsed = time.monotonic() - self.started
        assert self.jwks.fetches <= 2 + int(elapsed // REFETCH_COOLDOWN), self.jwks.fetches


@pytest.fixture(scope="module")
def validator(runner: Runner) -> Iterator[Validator]:
    check = Validator(runner, Jwks())
    runner.run(check.start())
    yield check
    check.check_refetches()
    runner.run(check.stop())


def outcome(validator: Validator, token: str) -> dict[str, Any] | None:
    try:
        claims = validator(token)
    except (InvalidIDToken, ProviderError):
        record("refused")
        return None
    record("accepted")
    return claims


# ---- garbage --------------------------------------------------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
json_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=10,
)
_segment = st.one_of(
    st.binary(max_size=60).map(b64),
    st.text(max_size=30),
    json_values.map(lambda v: b64(json.dumps(v).encode())),
    st.sampled_from(["", "=", "e30", "eyJhbGciOiJub25lIn0", "!!", "a" * 4001]),
)
garbage = st.one_of(
    st.text(max_size=100),
    st.lists(_segment, min_size=1, max_size=6).map(".".join),
    st.tuples(json_values, json_values, st.binary(max_size=300)).map(
        lambda t: ".".join(
            [b64(json.dumps(t[0]).encode()), b64(json.dumps(t[1]).encode()), b64(t[2])]
        )
    ),
)


@settings(max_examples=examples(500))
@given(token=garbage)
@example(token="")
@example(token="..")
@example(token="eyJhbGciOiJub25lIn0.e30.")
def test_garbage_never_validates(validator: Validator, token: str) -> None:
    assert outcome(validator, token) is None
    validator.check_refetches()


# ---- random headers, real signatures, valid claims ------------------------------------------

KIDS = ("rsa-1", "ec-1", "oct-1", "enc-1", "made-up", "")
#: JOSE ``typ`` values: only absent, JWT and application/jwt (any case) are ID tokens
TYPES = (
    "JWT",
    "jwt",
    "application/jwt",
    "Application/JWT",
    "at+jwt",
    "AT+JWT",
    "application/at+jwt",
    "logout+jwt",
    "secevent+jwt",
    "JOSE",
    "JWT ",
    "",
)
ALGS = ("RS256", "ES256", "HS256", "none", "None", "RS512", "PS256", "ES384", "EdDSA", "rs256")
headers = st.fixed_dictionaries(
    {"alg": st.sampled_from(["RS256", "ES256"]) | st.sampled_from(ALGS) | _scalars},
    optional={
        "kid": st.sampled_from(KIDS) | _scalars,
        "typ": st.sampled_from(TYPES) | _scalars,
        "crit": st.just(["exp"]) | json_values,
        "b64": st.booleans() | _scalars,
        "jku": st.just("https://evil.example/jwks"),
        "jwk": st.just({"kty": "oct", "k": b64(b"attacker")}),
        "x5u": st.just("https://evil.example/cert"),
        "zip": st.just("DEF"),
    },
)


def accepted_signature(header: dict[str, Any], signer: str) -> bool:
    """The only (header, signer) pairs that may validate (RFC 8725 §3.11: an explicit ``typ``
    other than JWT is another kind of token)."""
    if "crit" in header:
        return False
    if "typ" in header and not (
        isinstance(header["typ"], str) and header["typ"].lower() in ("jwt", "application/jwt")
    ):
        return False
    kid = header.get("kid")
    if header.get("alg") == "RS256" and signer == "rsa":
        return kid is None or kid == "rsa-1"
    if header.get("alg") == "ES256" and signer == "ec":
        return kid is None or kid == "ec-1"
    return False


@settings(max_examples=examples(300))
@given(header=headers, signer=st.sampled_from(["rsa", "ec"]) | st.sampled_from(SIGNERS))
@example(header={"alg": "HS256", "kid": "rsa-1"}, signer="hs-pem")
@example(header={"alg": "HS256", "kid": "oct-1"}, signer="hs-oct")
@example(header={"alg": "none"}, signer="none")
@example(header={"alg": "RS256", "kid": "enc-1"}, signer="enc")
@example(header={"alg": "RS256", "kid": "rsa-1", "crit": ["exp"]}, signer="rsa")
@example(header={"alg": "RS256", "kid": "rsa-1"}, signer="rsa")
@example(header={"alg": "ES256"}, signer="ec")
@example(header={"alg": "RS256", "kid": "rsa-1", "typ": "at+jwt"}, signer="rsa")
@example(header={"alg": "RS256", "kid": "rsa-1", "typ": "application/at+jwt"}, signer="rsa")
@example(header={"alg": "RS256", "kid": "rsa-1", "typ": "logout+jwt"}, signer="rsa")
@example(header={"alg": "RS256", "kid": "rsa-1", "typ": "application/JWT"}, signer="rsa")
def test_random_headers(validator: Validator, header: dict[str, Any], signer: str) -> None:
    token = mint(header, good_claims(int(time.time())), signer)
    claims = outcome(validator, token)
    if claims is not None:
        assert accepted_signature(header, signer), (header, signer)
    elif accepted_signature(header, signer) and set(header) <= {"alg", "kid", "typ"}:
        pytest.fail(f"a genuine token was refused: {header}")
    validator.check_refetches()


# ---- a real signature, random claims ----------------------------------------------------------

EXP = (3600, 300, 10, -30, -120, -10_000)  # leeway 60 s: -30 is still fine, -120 is not
IAT = (0, -30, -300, -630, -700, 30, 120, -86_400)  # fine from -660 to +60
NBF = (0, 30, 120, -120)


def _claims(now: int) -> st.SearchStrategy[dict[str, Any]]:
    def when(offsets: tuple[int, ...]) -> st.SearchStrategy[Any]:
        return st.sampled_from(offsets).map(lambda o: now + o) | st.sampled_from(
            [str(now + 300), float(now), math.nan, math.inf, -math.inf, True, None, "soon"]
        )

    return st.fixed_dictionaries(
        {},
        optional={
            "iss": st.sampled_from([ISSUER, ISSUER + "/", ISSUER.upper(), "https://evil.example"])
            | _scalars,
            "sub": st.sampled_from(["user-1", "", "x" * 255, "x" * 256]) | _scalars,
            "aud": st.sampled_from(
                [CLIENT_ID, [CLIENT_ID], [CLIENT_ID, "other"], ["other"], [], [CLIENT_ID, 5]]
            )
            | _scalars,
            "azp": st.sampled_from([CLIENT_ID, "other"]) | _scalars,
            "exp": when(EXP),
            "iat": when(IAT),
            "nbf": when(NBF),
            "auth_time": when(IAT),
            "nonce": st.sampled_from([NONCE, NONCE + "x", ""]) | _scalars,
            "jti": st.just("id-1") | _scalars,
            "extra": json_values,
        },
    )


def claims_acceptable(c: dict[str, Any], now: float) -> bool:
    """OIDC Core §3.1.3.7 (and RFC 7519 for nbf/jti), independently of the package."""

    def number(value: Any) -> float | None:  # RFC 7519 §2 NumericDate: a JSON number
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return value if math.isfinite(value) else None

    aud, azp, iat = c.get("aud"), c.get("azp"), c.get("iat")
    audiences = [aud] if isinstance(aud, str) else aud
    exp = number(c.get("exp"))
    nbf = number(c.get("nbf"))
    checks = [
        c.get("iss") == ISSUER,
        isinstance(audiences, list) and all(isinstance(a, str) for a in audiences),
        isinstance(audiences, list) and CLIENT_ID in audiences,
        not (isinstance(aud, list) and len(aud) > 1 and azp is None),
        azp is None or azp == CLIENT_ID,
        exp is not None and exp > now - LEEWAY,
        isinstance(iat, int | float) and not isinstance(iat, bool) and math.isfinite(iat),
        isinstance(iat, int | float) and now - MAX_IAT_AGE - LEEWAY <= iat <= now + LEEWAY,
        "nbf" not in c or (nbf is not None and int(nbf) <= now + LEEWAY),
        "auth_time" not in c or number(c["auth_time"]) is not None,
        isinstance(c.get("sub"), str) and 0 < len(c["sub"]) <= 255,
        c.get("nonce") == NONCE,
        "jti" not in c or isinstance(c["jti"], str),
    ]
    return all(checks)


@settings(max_examples=examples(400))
@given(data=st.data())
def test_random_claims(validator: Validator, data: st.DataObject) -> None:
    now = int(time.time())
    claims = {**good_claims(now), **data.draw(_claims(now), label="claims")}
    drop = data.draw(st.sets(st.sampled_from(sorted(good_claims(now)))), label="dropped")
    claims = {k: v for k, v in claims.items() if k not in drop}
    result = outcome(validator, mint({"alg": "RS256", "kid": "rsa-1"}, claims, "rsa"))
    assert (result is not None) == claims_acceptable(claims, time.time()), claims
    validator.check_refetches()


@settings(max_examples=examples(100))
@given(claims=json_values)
def test_arbitrary_claims_values(validator: Validator, claims: Any) -> None:
    assert outcome(validator, mint({"alg": "RS256", "kid": "rsa-1"}, claims, "rsa")) is None
