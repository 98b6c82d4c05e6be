"""What the fake provider issues and remembers: RS256 signing keys (RFC 7517), sign-in
interactions, authorization codes, grants with rotating refresh tokens (RFC 9700 §4.14.2),
access tokens, and ID tokens (OIDC Core §2) bent by the ``id_token_*`` failure modes.

It reads its settings from a :class:`MintHost` at each use, so it never imports the provider.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .model import (
    EVIL_ISSUER,
    AccessToken,
    AuthRequest,
    Code,
    FakeAccount,
    Grant,
    b64,
    b64json,
)

INTERACTION_TTL = 600


class MintHost(Protocol):
    """The provider settings the mint reads (tests may change them at any time)."""

    @property
    def issuer(self) -> str: ...
    @property
    def client_id(self) -> str: ...
    @property
    def accounts(self) -> dict[str, FakeAccount]: ...
    @property
    def failures(self) -> set[str]: ...
    @property
    def access_token_ttl(self) -> int: ...
    @property
    def code_ttl(self) -> int: ...
    @property
    def id_token_ttl(self) -> int: ...
    def claims_for(self, sub: str) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    private: rsa.RSAPrivateKey

    def jwk(self) -> dict[str, str]:
        """The public half as a JWK."""
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": self.kid,
            "n": b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM (the HS256 key-confusion secret)."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def _sign_rs256(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


@functools.cache
def _foreign_key() -> rsa.RSAPrivateKey:
    """A key that is never published in any JWKS (for ``id_token_unknown_kid``)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class TokenMint:
    """The keys, interactions, codes, grants and tokens of one provider."""

    def __init__(self, host: MintHost) -> None:
        self._host = host
        self.keys: list[SigningKey] = []  # newest (the signing key) last
        self._kid_counter = 0
        self.interactions: dict[str, AuthRequest] = {}
        self.codes: dict[str, Code] = {}
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, Grant] = {}

    # ---- keys ----------------------------------------------------------------------------------

    def signing_key(self) -> SigningKey:
        return self.keys[-1] if self.keys else self.new_key()

    def new_key(self) -> SigningKey:
        self._kid_counter += 1
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key = SigningKey(kid=f"fake-{self._kid_counter}", private=private)
        self.keys.append(key)
        return key

    def jwks(self) -> dict[str, Any]:
        """The JWK Set (RFC 7517 §5), creating the first key if there is none yet."""
        self.signing_key()
        return {"keys": [key.jwk() for key in self.keys]}

    # ---- interactions and codes ----------------------------------------------------------------

    def open_interaction(self, auth: AuthRequest) -> str:
        """Park *auth* for the sign-in page (dropping expired ones) and return its handle."""
        now = time.time()
        for key, pending in list(self.interactions.items()):
            if pending.created + INTERACTION_TTL < now:
                del self.interactions[key]
        interaction = secrets.token_urlsafe(32)
        self.interactions[interaction] = auth
        return interaction

    def take_interaction(self, interaction: str) -> AuthRequest | None:
        """The parked request *interaction* names, once, if it has not expired."""
        auth = self.interactions.pop(interaction, None)
        if auth is None or auth.created + INTERACTION_TTL < time.time():
            return None
        return auth

    def issue_code(self, auth: AuthRequest, sub: str) -> tuple[str, Code]:
        code = secrets.token_urlsafe(32)
        auth_time = int(time.time())
        record = Code(auth, sub, auth_time, time.time() + self._host.code_ttl)
        self.codes[code] = record
        return code, record

    # ---- tokens --------------------------------------------------------------------------------

    def issue_access_token(self, grant: Grant, scope: str) -> str:
        token = secrets.token_urlsafe(32)
        expires_at = time.time() + self._host.access_token_ttl
        self.access_tokens[token] = AccessToken(grant, scope, expires_at)
        return token

    def issue_tokens(self, grant: Grant, scope: str, *, rotate: bool = True) -> dict[str, Any]:
        """A token response body (RFC 6749 §5.1) for *grant*, with a new refresh token when the
        grant is refreshable and *rotate* (or it has none yet); without, the old one stays."""
        body: dict[str, Any] = {
            "access_token": self.issue_access_token(grant, scope),
            "token_type": "Bearer",
            "expires_in": self._host.access_token_ttl,
        }
        if grant.refreshable and (rotate or not grant.refresh_token):
            grant.refresh_token = secrets.token_urlsafe(32)
            self.refresh_tokens[grant.refresh_token] = grant
            body["refresh_token"] = grant.refresh_token
        body["scope"] = scope
        return body

    def live_access_token(self, token: str) -> AccessToken | None:
        """The access token *token* if it is known, unrevoked and unexpired."""
        access = self.access_tokens.get(token)
        if access is None or access.revoked or access.grant.revoked:
            return None
        return access if access.expires_at > time.time() else None

    def revoke(self, token: str) -> None:
        """RFC 7009 §2.1: an access token alone, or a refresh token's whole family."""
        if (access := self.access_tokens.get(token)) is not None:
            access.revoked = True
        elif (grant := self.refresh_tokens.get(token)) is not None:
            grant.revoked = True  # the whole family, its access tokens included

    def revoked(self, token: str) -> bool:
        """Whether *token* (access or refresh) was issued here and then revoked."""
        if (access := self.access_tokens.get(token)) is not None:
            return access.revoked or access.grant.revoked
        grant = self.refresh_tokens.get(token)
        return grant is not None and grant.revoked

    def expire_access_tokens(self) -> None:
        past = time.time() - 1
        for token in self.access_tokens.values():
            token.expires_at = min(token.expires_at, past)

    def active_refresh_tokens(self) -> set[str]:
        return {t for t, g in self.refresh_tokens.items() if g.refresh_token == t and not g.revoked}

    def id_token(self, grant: Grant, *, nonce: str | None) -> str | None:
        """A signed ID token for *grant*, bent by any active ``id_token_*`` failure mode."""
        host = self._host
        fails = host.failures
        if "id_token_missing" in fails:
            return None
        now = int(time.time())
        claims = host.claims_for(grant.sub)
        claims.update(
            iss=host.issuer,
            sub=grant.sub,
            aud=host.client_id,
            azp=host.client_id,
            iat=now,
            exp=now + host.id_token_ttl,
            auth_time=grant.auth_time,
        )
        if nonce is not None:
            claims["nonce"] = nonce
        if "id_token_wrong_aud" in fails:
            claims["aud"] = claims["azp"] = "other"
        if "id_token_multi_aud_no_azp" in fails:
            claims["aud"] = [host.client_id, "other"]
            claims.pop("azp", None)
        if "id_token_wrong_azp" in fails:
            # Several audiences, so azp must be checked under any reading of OIDC Core §3.1.3.7.
            claims["aud"] = [host.client_id, "other"]
            claims["azp"] = "other"
        if "id_token_wrong_iss" in fails:
            claims["iss"] = EVIL_ISSUER
        if "id_token_wrong_nonce" in fails:
            claims["nonce"] = secrets.token_urlsafe(16)
        if "id_token_no_nonce" in fails:
            claims.pop("nonce", None)
        if "id_token_expired" in fails:
            claims.update(iat=now - 900, exp=now - 600)
        if "id_token_future_iat" in fails:
            claims.update(iat=now + 3600, exp=now + 3600 + host.id_token_ttl)
        if "id_token_old_iat" in fails:
            claims["iat"] = now - 2 * 86400
        if "id_token_no_sub" in fails:
            del claims["sub"]

        key = self.signing_key()
        header: dict[str, Any] = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
        private = key.private
        if "id_token_alg_none" in fails:
            return f"{b64json({'alg': 'none', 'typ': 'JWT'})}.{b64json(claims)}."
        if "id_token_no_kid" in fails:
            del header["kid"]
        if "id_token_crit" in fails:
            header.update(crit=["exp-x"], **{"exp-x": now})
        if "id_token_unknown_kid" in fails:
            header["kid"] = "unknown-" + secrets.token_hex(4)
            private = _foreign_key()
        signing_input = f"{b64json(header)}.{b64json(claims)}".encode("ascii")
        if "id_token_hs256_pubkey" in fails:
            header["alg"] = "HS256"
            signing_input = f"{b64json(header)}.{b64json(claims)}".encode("ascii")
            signature = hmac.new(key.public_pem(), signing_input, hashlib.sha256).digest()
        else:
            signature = _sign_rs256(private, signing_input)
        if "id_token_bad_signature" in fails:
            signature = bytes([signature[0] ^ 0x01]) + signature[1:]
        return f"{signing_input.decode('ascii')}.{b64(signature)}"
