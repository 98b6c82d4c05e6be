"""An in-process fake OAuth 2.0 / OpenID Connect provider, served by aiohttp.

It follows RFC 6749, RFC 7636 (S256 only), RFC 7009, RFC 9207 and OIDC Core / Discovery /
RP-Initiated Logout closely enough to sign a real relying party in, and it can be switched into
hostile behaviour with :meth:`FakeProvider.fail` so tests can prove the relying party refuses it.
It is also the example app's offline "dev" provider, hence the human-usable sign-in page.
Self-contained on purpose: it imports nothing else from ``aiohttp_oauth2_login``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import hashlib
import hmac
import html
import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

__all__ = ["FAILURE_MODES", "FakeAccount", "FakeProvider"]

FAILURE_MODES: frozenset[str] = frozenset(
    """
    token_error token_500 token_html token_200_error token_missing_access_token token_wrong_type
    token_timeout token_trickle token_redirect token_huge token_not_object
    id_token_missing id_token_alg_none id_token_hs256_pubkey id_token_wrong_aud
    id_token_multi_aud_no_azp id_token_wrong_azp id_token_wrong_iss id_token_wrong_nonce
    id_token_no_nonce id_token_expired id_token_future_iat id_token_old_iat id_token_no_sub
    id_token_bad_signature id_token_unknown_kid id_token_no_kid id_token_crit
    userinfo_401 userinfo_500 userinfo_html userinfo_wrong_sub userinfo_not_object
    iss_mismatch iss_missing deny implicit_tokens
    discovery_wrong_issuer discovery_500 discovery_html jwks_500
    refresh_error revoke_500 revoke_timeout
    """.split()
)
"""Every name :meth:`FakeProvider.fail` accepts; ``token_*`` modes apply to both grants."""

EVIL_ISSUER = "https://evil.example"
INTERACTION_TTL = 600
HANG_SECONDS = 3600.0
CLAIMS_SUPPORTED = (
    "sub iss aud exp iat auth_time nonce azp name email email_verified preferred_username picture"
).split()
_CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")
_VERIFIER_RE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_EMAIL_LOCAL_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action {}; frame-ancestors 'none'"
# an origin a CSP host-source can name (no IPv6 literal, nothing that could end the directive)
_CSP_ORIGIN_RE = re.compile(r"https?://[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?", re.ASCII)
_HTML_HEADERS = {
    "Content-Security-Policy": _CSP.format("'self'"),
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_STOPPING = web.AppKey("fake_provider_stopping", asyncio.Event)
_CSS = """
body{margin:0;background:#f3f4f6;color:#111827;font:16px/1.5 system-ui,sans-serif}
main{max-width:26rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:.75rem;
box-shadow:0 1px 3px rgba(0,0,0,.15)}
h1{margin:0 0 .5rem;font-size:1.4rem}
.note{padding:.5rem .75rem;background:#fef3c7;border-radius:.375rem;font-size:.9rem}
.meta{color:#4b5563;font-size:.9rem;word-break:break-all}
fieldset{border:0;margin:1rem 0;padding:0}
legend{font-weight:600;margin-bottom:.5rem}
.account{display:flex;gap:.75rem;align-items:center;padding:.5rem .75rem;margin:.25rem 0;
border:1px solid #d1d5db;border-radius:.375rem;cursor:pointer}
.account small{display:block;color:#6b7280}
label[for=username]{display:block;font-weight:600;margin-top:1rem}
input[type=text]{box-sizing:border-box;width:100%;padding:.5rem;margin-top:.25rem;
border:1px solid #d1d5db;border-radius:.375rem;font:inherit}
.buttons{display:flex;gap:.75rem;margin-top:1.5rem}
button{flex:1;padding:.6rem;border:0;border-radius:.375rem;font:inherit;cursor:pointer;
background:#2563eb;color:#fff}
button.secondary{background:#e5e7eb;color:#111827}
"""


@dataclass(frozen=True, kw_only=True, slots=True)
class FakeAccount:
    """A user the fake provider can sign in; its claims go into ID tokens and userinfo."""

    sub: str
    name: str | None = None
    email: str | None = None
    email_verified: bool = True
    preferred_username: str | None = None
    picture: str | None = None
    extra_claims: Mapping[str, Any] = field(default_factory=dict)

    def claims(self) -> dict[str, Any]:
        """Return ``sub``, the standard claims that are set, then ``extra_claims``."""
        claims: dict[str, Any] = {"sub": self.sub}
        if self.name is not None:
            claims["name"] = self.name
        if self.email is not None:
            claims["email"] = self.email
            claims["email_verified"] = self.email_verified
        if self.preferred_username is not None:
            claims["preferred_username"] = self.preferred_username
        if self.picture is not None:
            claims["picture"] = self.picture
        claims.update(self.extra_claims)
        return claims


DEFAULT_ACCOUNTS = (
    FakeAccount(
        sub="alice", name="Alice Example", email="alice@example.com", preferred_username="alice"
    ),
    FakeAccount(sub="bob", name="Bob Example", email="bob@example.com", preferred_username="bob"),
)


@dataclass(frozen=True, slots=True)
class _SigningKey:
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
            "n": _b64(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": _b64(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        }

    def public_pem(self) -> bytes:
        """The public key as SubjectPublicKeyInfo PEM (the HS256 key-confusion secret)."""
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@dataclass(slots=True)
class _AuthRequest:
    """A validated authorization request waiting for the user (or auto-approval)."""

    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str
    created: float = field(default_factory=time.time)


@dataclass(slots=True)
class _Grant:
    """One sign-in's token family: its access tokens and its chain of refresh tokens."""

    sub: str
    scope: str
    auth_time: int
    refresh_token: str = ""
    revoked: bool = False


@dataclass(slots=True)
class _Code:
    request: _AuthRequest
    sub: str
    auth_time: int
    expires_at: float
    grant: _Grant | None = None
    used: bool = False


@dataclass(slots=True)
class _AccessToken:
    grant: _Grant
    scope: str
    expires_at: float
    revoked: bool = False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64json(obj: Mapping[str, Any]) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def _sign_rs256(key: rsa.RSAPrivateKey, data: bytes) -> bytes:
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


@functools.cache
def _foreign_key() -> rsa.RSAPrivateKey:
    """A key that is never published in any JWKS (for ``id_token_unknown_kid``)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _usable_redirect_uri(uri: str) -> bool:
    """An absolute http(s) URL with a host, no fragment and no whitespace or control chars."""
    if not uri or len(uri) > 2048 or any(ch.isspace() or ord(ch) < 32 for ch in uri):
        return False
    try:
        parts = urlsplit(uri)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not parts.fragment


def _add_query(url: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(url)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


def _oauth_error(error: str, description: str, status: int = 400) -> web.Response:
    """An RFC 6749 §5.2 error response."""
    body = {"error": error, "error_description": description}
    return web.json_response(body, status=status, headers=_NO_STORE)


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={"Location": location, **_NO_STORE})


def _form_csp(redirect_uri: str) -> str:
    """The sign-in page's CSP: its form posts here, and the answer is a 302 to the relying
    party, which browsers check against ``form-action`` too (CSP Level 3 §6.4.1)."""
    parts = urlsplit(redirect_uri)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    if _CSP_ORIGIN_RE.fullmatch(origin):
        return _CSP.format(f"'self' {origin}")
    return _CSP.format("*")  # an origin CSP cannot name (IPv6 literal): a dev tool, not a lock


def _page(
    title: str, body: str, status: int = 200, headers: Mapping[str, str] = _HTML_HEADERS
) -> web.Response:
    """A self-contained HTML page; *body* must already be escaped."""
    text = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="robots" content="noindex"><title>{html.escape(title)}</title>'
        f"<style>{_CSS}</style></head><body><main>{body}</main></body></html>\n"
    )
    return web.Response(text=text, status=status, content_type="text/html", headers=headers)


def _error_page(message: str, status: int = 400) -> web.Response:
    body = f"<h1>Sign-in request rejected</h1><p>{html.escape(message)}</p>"
    return _page("Sign-in request rejected", body, status)


def _bearer_challenge(error: str | None = None) -> web.Response:
    value = 'Bearer realm="fake-provider"' + (f', error="{error}"' if error else "")
    body = {"error": error or "invalid_request"}
    return web.json_response(body, status=401, headers={"WWW-Authenticate": value, **_NO_STORE})


async def _read_form(request: web.Request) -> tuple[dict[str, str], bool]:
    """The form's string fields (first value of each) and whether no field was repeated."""
    post = await request.post()
    fields: dict[str, str] = {}
    for key, value in post.items():
        if isinstance(value, str):
            fields.setdefault(key, value)
    return fields, len(set(post.keys())) == len(post)


async def _on_startup(app: web.Application) -> None:
    app[_STOPPING].clear()


async def _on_shutdown(app: web.Application) -> None:
    app[_STOPPING].set()  # lets hanging handlers end instead of stalling the shutdown


async def _hang(request: web.Request, seconds: float = HANG_SECONDS) -> bool:
    """Sleep, ending early when the client hangs up or the server shuts down.

    Returns whether the client is still connected.
    """
    deadline = time.monotonic() + seconds
    stopping = request.app[_STOPPING]
    while time.monotonic() < deadline:
        transport = request.transport
        if stopping.is_set() or transport is None or transport.is_closing():
            return False
        await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    return True


def _client_auth_method(request: web.Request, form: Mapping[str, str]) -> str:
    if request.headers.get("Authorization", "").lower().startswith("basic "):
        return "basic"
    return "post" if "client_secret" in form else "none"


class FakeProvider:
    """A fake OAuth 2.0 / OIDC authorization server with switchable failure modes.

    ``calls`` counts requests per step; ``"token"`` counts /token requests other than refresh
    grants, which count as ``"refresh"``. State lives here, so one instance may serve several apps.
    """

    def __init__(
        self,
        *,
        issuer: str | None = None,
        client_id: str = "test-client",
        client_secret: str = "test-secret",  # noqa: S107 - a well-known test credential
        accounts: Iterable[FakeAccount] | None = None,
        auto_approve: bool = False,
        access_token_ttl: int = 3600,
        code_ttl: int = 60,
        id_token_ttl: int = 300,
        title: str = "Development sign-in",
    ) -> None:
        self._issuer = issuer
        self._issuer_explicit = issuer is not None
        self.client_id = client_id
        self.client_secret = client_secret
        self.accounts: dict[str, FakeAccount] = {}
        for account in DEFAULT_ACCOUNTS if accounts is None else accounts:
            if account.sub in self.accounts:
                raise ValueError(f"duplicate FakeAccount sub {account.sub!r}")
            self.accounts[account.sub] = account
        self.default_account = next(iter(self.accounts), "alice")
        self.auto_approve = auto_approve
        self.access_token_ttl = access_token_ttl
        self.code_ttl = code_ttl
        self.id_token_ttl = id_token_ttl
        self.title = title
        self.failures: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.token_requests: list[dict[str, str]] = []
        self.authorize_requests: list[dict[str, str]] = []
        self.logout_requests: list[dict[str, str]] = []
        self._keys: list[_SigningKey] = []  # newest (the signing key) last
        self._kid_counter = 0
        self._interactions: dict[str, _AuthRequest] = {}
        self._codes: dict[str, _Code] = {}
        self._access_tokens: dict[str, _AccessToken] = {}
        self._refresh_tokens: dict[str, _Grant] = {}
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        issuer = self._issuer or "<not started>"
        return (
            f"<FakeProvider issuer={issuer!r} client_id={self.client_id!r} "
            f"accounts={list(self.accounts)!r} failures={sorted(self.failures)!r}>"
        )

    # ---- configuration and test helpers -------------------------------------------------------

    @property
    def issuer(self) -> str:
        """The issuer identifier; known once set explicitly or after :meth:`start`."""
        if self._issuer is None:
            raise RuntimeError(
                "FakeProvider.issuer is not known yet: pass issuer=... to FakeProvider(), "
                "set fake.issuer = <base URL of the mounted app>, or await fake.start() first"
            )
        return self._issuer

    @issuer.setter
    def issuer(self, value: str) -> None:
        self._issuer = value
        self._issuer_explicit = True

    def fail(self, *modes: str) -> None:
        """Switch on failure modes (see ``FAILURE_MODES``); unknown names raise ValueError."""
        unknown = sorted(set(modes) - FAILURE_MODES)
        if unknown:
            raise ValueError(f"unknown failure mode(s) {unknown}; see FAILURE_MODES")
        self.failures.update(modes)

    def reset(self) -> None:
        """Clear failure modes and recorded calls/requests; keys and tokens stay valid."""
        self.failures.clear()
        self.calls.clear()
        self.token_requests.clear()
        self.authorize_requests.clear()
        self.logout_requests.clear()

    def rotate_keys(self, *, keep_old: bool = True) -> str:
        """Sign with a fresh RSA key from now on and return its kid; drop old keys unless asked."""
        if self._keys and not keep_old:
            self._keys.clear()
        return self._new_key().kid

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired."""
        past = time.time() - 1
        for token in self._access_tokens.values():
            token.expires_at = min(token.expires_at, past)

    def revoked(self, token: str) -> bool:
        """Whether *token* (access or refresh) was issued here and then revoked."""
        if (access := self._access_tokens.get(token)) is not None:
            return access.revoked or access.grant.revoked
        grant = self._refresh_tokens.get(token)
        return grant is not None and grant.revoked

    def active_refresh_tokens(self) -> set[str]:
        """The refresh tokens that would currently be accepted."""
        return {
            t for t, g in self._refresh_tokens.items() if g.refresh_token == t and not g.revoked
        }

    # ---- serving -------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """Build an application serving the provider; mount it anywhere matching the issuer."""
        app = web.Application()
        app[_STOPPING] = asyncio.Event()
        app.on_startup.append(_on_startup)
        app.on_shutdown.append(_on_shutdown)
        router = app.router
        router.add_get("/.well-known/openid-configuration", self._discovery)
        router.add_get("/jwks", self._jwks)
        router.add_get("/authorize", self._authorize)
        router.add_post("/authorize", self._authorize_submit)
        router.add_post("/token", self._token)
        router.add_post("/redirect-target", self._redirect_target)
        router.add_route("GET", "/userinfo", self._userinfo)
        router.add_route("POST", "/userinfo", self._userinfo)
        router.add_post("/revoke", self._revoke)
        router.add_route("GET", "/logout", self._end_session)
        router.add_route("POST", "/logout", self._end_session)
        router.add_get("/api/me", self._api_me)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on a real socket (port 0 picks a free one) and return the issuer."""
        if self._runner is not None:
            raise RuntimeError("FakeProvider is already started; call stop() first")
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        if not self._issuer_explicit:
            real_port = runner.addresses[0][1]
            netloc = f"[{host}]" if ":" in host else host
            self._issuer = f"http://{netloc}:{real_port}"
        return self.issuer

    async def stop(self) -> None:
        """Stop the server started by :meth:`start` (a no-op otherwise)."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # ---- internals -----------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return self.issuer.rstrip("/") + path

    def _signing_key(self) -> _SigningKey:
        return self._keys[-1] if self._keys else self._new_key()

    def _new_key(self) -> _SigningKey:
        self._kid_counter += 1
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key = _SigningKey(kid=f"fake-{self._kid_counter}", private=private)
        self._keys.append(key)
        return key

    def _account(self, sub: str) -> FakeAccount:
        """The known account *sub*, or a new ad-hoc one named after it."""
        if sub not in self.accounts:
            email = f"{sub}@example.com" if _EMAIL_LOCAL_RE.fullmatch(sub) else None
            self.accounts[sub] = FakeAccount(sub=sub, name=sub, email=email, preferred_username=sub)
        return self.accounts[sub]

    def _authorization_response(self, redirect_uri: str, params: dict[str, str]) -> web.Response:
        """Redirect back to the client, adding ``iss`` (RFC 9207) unless a failure mode says no."""
        if "iss_mismatch" in self.failures:
            params["iss"] = EVIL_ISSUER
        elif "iss_missing" not in self.failures:
            params["iss"] = self.issuer
        return _redirect(_add_query(redirect_uri, params))

    def _approve(self, auth: _AuthRequest, sub: str) -> web.Response:
        """Issue a code for *sub* and send the browser back (or deny in ``deny`` mode)."""
        if "deny" in self.failures:
            return self._deny(auth, "The user denied the request (failure mode 'deny').")
        self._account(sub)
        code = secrets.token_urlsafe(32)
        auth_time = int(time.time())
        self._codes[code] = _Code(auth, sub, auth_time, time.time() + self.code_ttl)
        params = {"code": code}
        if auth.state is not None:
            params["state"] = auth.state
        if "implicit_tokens" in self.failures:
            grant = _Grant(sub=sub, scope=auth.scope, auth_time=auth_time)
            params["access_token"] = self._issue_access_token(grant, auth.scope)
            params["id_token"] = self._id_token(grant, nonce=auth.nonce) or ""
        return self._authorization_response(auth.redirect_uri, params)

    def _deny(self, auth: _AuthRequest, description: str) -> web.Response:
        params = {"error": "access_denied", "error_description": description}
        if auth.state is not None:
            params["state"] = auth.state
        return self._authorization_response(auth.redirect_uri, params)

    def _issue_access_token(self, grant: _Grant, scope: str) -> str:
        token = secrets.token_urlsafe(32)
        expires_at = time.time() + self.access_token_ttl
        self._access_tokens[token] = _AccessToken(grant, scope, expires_at)
        return token

    def _issue_tokens(
        self, grant: _Grant, *, nonce: str | None, scope: str | None = None
    ) -> dict[str, Any]:
        """A token response body for *grant*, rotating its refresh token."""
        grant.refresh_token = secrets.token_urlsafe(32)
        self._refresh_tokens[grant.refresh_token] = grant
        scope = grant.scope if scope is None else scope
        body: dict[str, Any] = {
            "access_token": self._issue_access_token(grant, scope),
            "token_type": "Bearer",
            "expires_in": self.access_token_ttl,
            "refresh_token": grant.refresh_token,
            "scope": scope,
        }
        if "openid" in grant.scope.split():
            id_token = self._id_token(grant, nonce=nonce)
            if id_token is not None:
                body["id_token"] = id_token
        return body

    def _id_token(self, grant: _Grant, *, nonce: str | None) -> str | None:
        """A signed ID token for *grant*, bent by any active ``id_token_*`` failure mode."""
        fails = self.failures
        if "id_token_missing" in fails:
            return None
        now = int(time.time())
        claims = self._account(grant.sub).claims()
        claims.update(
            iss=self.issuer,
            sub=grant.sub,
            aud=self.client_id,
            azp=self.client_id,
            iat=now,
            exp=now + self.id_token_ttl,
            auth_time=grant.auth_time,
        )
        if nonce is not None:
            claims["nonce"] = nonce
        if "id_token_wrong_aud" in fails:
            claims["aud"] = claims["azp"] = "other"
        if "id_token_multi_aud_no_azp" in fails:
            claims["aud"] = [self.client_id, "other"]
            claims.pop("azp", None)
        if "id_token_wrong_azp" in fails:
            # Several audiences, so azp must be checked under any reading of OIDC Core §3.1.3.7.
            claims["aud"] = [self.client_id, "other"]
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
            claims.update(iat=now + 3600, exp=now + 3600 + self.id_token_ttl)
        if "id_token_old_iat" in fails:
            claims["iat"] = now - 2 * 86400
        if "id_token_no_sub" in fails:
            del claims["sub"]

        key = self._signing_key()
        header: dict[str, Any] = {"alg": "RS256", "typ": "JWT", "kid": key.kid}
        private = key.private
        if "id_token_alg_none" in fails:
            return f"{_b64json({'alg': 'none', 'typ': 'JWT'})}.{_b64json(claims)}."
        if "id_token_no_kid" in fails:
            del header["kid"]
        if "id_token_crit" in fails:
            header.update(crit=["exp-x"], **{"exp-x": now})
        if "id_token_unknown_kid" in fails:
            header["kid"] = "unknown-" + secrets.token_hex(4)
            private = _foreign_key()
        signing_input = f"{_b64json(header)}.{_b64json(claims)}".encode("ascii")
        if "id_token_hs256_pubkey" in fails:
            header["alg"] = "HS256"
            signing_input = f"{_b64json(header)}.{_b64json(claims)}".encode("ascii")
            signature = hmac.new(key.public_pem(), signing_input, hashlib.sha256).digest()
        else:
            signature = _sign_rs256(private, signing_input)
        if "id_token_bad_signature" in fails:
            signature = bytes([signature[0] ^ 0x01]) + signature[1:]
        return f"{signing_input.decode('ascii')}.{_b64(signature)}"

    def _bearer(self, request: web.Request) -> _AccessToken | None:
        """The live access token from ``Authorization: Bearer``, if any."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        token = self._access_tokens.get(value.strip())
        if token is None or token.revoked or token.grant.revoked:
            return None
        return token if token.expires_at > time.time() else None

    def _authenticate_client(
        self, request: web.Request, form: Mapping[str, str]
    ) -> web.Response | None:
        """Check client credentials (RFC 6749 §2.3.1); an error response when they fail."""
        header = request.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            if "client_secret" in form:
                return _oauth_error("invalid_request", "use one client authentication method")
            try:
                decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            raw_id, _, raw_secret = decoded.partition(":")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
            if "client_id" in form and form["client_id"] != client_id:
                return _oauth_error("invalid_request", "client_id does not match the credentials")
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        id_ok = hmac.compare_digest(client_id.encode(), self.client_id.encode())
        secret_ok = hmac.compare_digest(secret.encode(), self.client_secret.encode())
        if id_ok and secret_ok:
            return None
        response = _oauth_error("invalid_client", "client authentication failed", 401)
        response.headers["WWW-Authenticate"] = 'Basic realm="fake-provider"'
        return response

    # ---- discovery and keys --------------------------------------------------------------------

    async def _discovery(self, request: web.Request) -> web.Response:
        self.calls["discovery"] += 1
        if "discovery_500" in self.failures:
            return web.json_response({"error": "server_error"}, status=500)
        if "discovery_html" in self.failures:
            return _page("Maintenance", "<h1>Down for maintenance</h1>")
        wrong = "discovery_wrong_issuer" in self.failures
        auth_methods = ["client_secret_basic", "client_secret_post"]
        document = {
            "issuer": EVIL_ISSUER if wrong else self.issuer,
            "authorization_endpoint": self._url("/authorize"),
            "token_endpoint": self._url("/token"),
            "userinfo_endpoint": self._url("/userinfo"),
            "jwks_uri": self._url("/jwks"),
            "revocation_endpoint": self._url("/revoke"),
            "end_session_endpoint": self._url("/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "authorization_response_iss_parameter_supported": True,
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["public"],
            "claims_supported": CLAIMS_SUPPORTED,
        }
        return web.json_response(document)

    async def _jwks(self, request: web.Request) -> web.Response:
        self.calls["jwks"] += 1
        if "jwks_500" in self.failures:
            return web.json_response({"error": "server_error"}, status=500)
        self._signing_key()
        return web.json_response({"keys": [key.jwk() for key in self._keys]})

    # ---- authorization endpoint ----------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.Response:
        self.calls["authorize"] += 1
        query = request.query
        self.authorize_requests.append(dict(query))
        client_id = query.getall("client_id", [])
        if client_id != [self.client_id]:
            return _error_page("Unknown or missing client_id.")
        redirect_uri = query.getall("redirect_uri", [])
        if len(redirect_uri) != 1 or not _usable_redirect_uri(redirect_uri[0]):
            return _error_page("Missing or unusable redirect_uri (an absolute http(s) URL).")
        state = query.get("state")
        auth = _AuthRequest(
            redirect_uri=redirect_uri[0],
            scope=query.get("scope", ""),
            state=state,
            nonce=query.get("nonce"),
            code_challenge=query.get("code_challenge", ""),
        )
        repeated = any(len(query.getall(key)) > 1 for key in query)
        error = self._authorize_error(query, repeated=repeated)
        if error is not None:
            params = {"error": error[0], "error_description": error[1]}
            if state is not None:
                params["state"] = state
            return self._authorization_response(auth.redirect_uri, params)
        if self.auto_approve:
            return self._approve(auth, self.default_account)
        now = time.time()
        for key, pending in list(self._interactions.items()):
            if pending.created + INTERACTION_TTL < now:
                del self._interactions[key]
        interaction = secrets.token_urlsafe(32)
        self._interactions[interaction] = auth
        return self._sign_in_page(request, interaction, auth)

    @staticmethod
    def _authorize_error(query: Mapping[str, str], *, repeated: bool) -> tuple[str, str] | None:
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

    def _sign_in_page(
        self, request: web.Request, interaction: str, auth: _AuthRequest
    ) -> web.Response:
        esc = html.escape
        selected = self.default_account
        if selected not in self.accounts:
            selected = next(iter(self.accounts), "")
        choices = []
        for account in self.accounts.values():
            detail = account.email or account.preferred_username or account.sub
            checked = " checked" if account.sub == selected else ""
            choices.append(
                f'<label class="account"><input type="radio" name="account" '
                f'value="{esc(account.sub)}"{checked}>'
                f"<span><strong>{esc(account.name or account.sub)}</strong>"
                f"<small>{esc(detail)}</small></span></label>"
            )
        parts = urlsplit(auth.redirect_uri)
        body = (
            f"<h1>{esc(self.title)}</h1>"
            '<p class="note">This is a development sign-in provider: no password is asked and '
            "anyone can be anyone. Never use it in production.</p>"
            f'<p class="meta">Application <strong>{esc(self.client_id)}</strong> asks you to '
            f"sign in and will receive you back at <code>{esc(parts.scheme)}://"
            f"{esc(parts.netloc)}</code>. Scope: <code>{esc(auth.scope or '(none)')}</code></p>"
            f'<form method="post" action="{esc(request.path)}">'
            f'<input type="hidden" name="interaction" value="{esc(interaction)}">'
            f"<fieldset><legend>Choose an account</legend>{''.join(choices)}</fieldset>"
            '<label for="username">Or sign in as another user</label>'
            '<input type="text" id="username" name="username" maxlength="64" '
            'autocomplete="off" placeholder="username">'
            '<div class="buttons"><button type="submit" name="action" value="approve">Sign in'
            '</button><button type="submit" name="action" value="deny" class="secondary">'
            "Cancel</button></div></form>"
        )
        csp = _form_csp(auth.redirect_uri)
        return _page(self.title, body, headers={**_HTML_HEADERS, "Content-Security-Policy": csp})

    async def _authorize_submit(self, request: web.Request) -> web.Response:
        self.calls["authorize_submit"] += 1
        form, _ = await _read_form(request)
        auth = self._interactions.pop(form.get("interaction", ""), None)
        if auth is None or auth.created + INTERACTION_TTL < time.time():
            return _error_page("This sign-in request is unknown or has expired; start again.")
        action = form.get("action")
        if action == "deny":
            return self._deny(auth, "The user cancelled the sign-in.")
        if action != "approve":
            return _error_page("Unknown action.")
        username = form.get("username", "").strip()
        if username:
            if len(username) > 64 or not username.isprintable():
                return _error_page("A username is 1 to 64 printable characters.")
            return self._approve(auth, username)
        sub = form.get("account", "")
        if sub not in self.accounts:
            return _error_page("Choose an account or type a username.")
        return self._approve(auth, sub)

    # ---- token endpoint ------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form, unique = await _read_form(request)
        refresh = form.get("grant_type") == "refresh_token"
        self.calls["refresh" if refresh else "token"] += 1
        self.token_requests.append({**form, "_auth": _client_auth_method(request, form)})
        fails = self.failures
        if "token_timeout" in fails:
            await _hang(request)
            return _oauth_error("temporarily_unavailable", "timed out", 503)
        if "token_redirect" in fails:
            location = self._url("/redirect-target")
            return web.Response(status=307, headers={"Location": location, **_NO_STORE})
        if "token_500" in fails:
            return _oauth_error("server_error", "internal error (failure mode)", 500)
        if "token_html" in fails:
            return _page("Error", "<h1>Something went wrong</h1><p>Please try again.</p>")
        if "token_error" in fails:
            return _oauth_error("invalid_grant", "rejected (failure mode)")
        if "token_200_error" in fails:
            return web.json_response(
                {
                    "error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired.",
                    "error_uri": "https://docs.github.com/apps/oauth-apps/troubleshooting",
                },
                headers=_NO_STORE,
            )
        if "token_huge" in fails:
            return await self._huge_response(request)
        if not unique:
            return _oauth_error("invalid_request", "repeated parameter")
        result = self._grant(request, form)
        if isinstance(result, web.Response):
            if "token_trickle" in fails and isinstance(result.body, bytes):
                return await self._trickle(request, result.body, result.status)
            return result
        if "token_missing_access_token" in fails:
            del result["access_token"]
        if "token_wrong_type" in fails:
            result["token_type"] = "mac"  # noqa: S105 - a token type, not a password
        if "token_not_object" in fails:
            return web.json_response([result], headers=_NO_STORE)
        if "token_trickle" in fails:
            return await self._trickle(request, json.dumps(result).encode(), 200)
        return web.json_response(result, headers=_NO_STORE)

    async def _redirect_target(self, request: web.Request) -> web.Response:
        """Where ``token_redirect`` points: it answers like a working token endpoint."""
        self.calls["redirect_target"] += 1
        form, _ = await _read_form(request)
        result = self._grant(request, form)
        if isinstance(result, web.Response):
            return result
        return web.json_response(result, headers=_NO_STORE)

    def _grant(
        self, request: web.Request, form: Mapping[str, str]
    ) -> web.Response | dict[str, Any]:
        """Authenticate the client and run the grant; a token body or an error response."""
        error = self._authenticate_client(request, form)
        if error is not None:
            return error
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._code_grant(form)
        if grant_type == "refresh_token":
            return self._refresh_grant(form)
        if not grant_type:
            return _oauth_error("invalid_request", "grant_type is required")
        return _oauth_error("unsupported_grant_type", "unsupported grant_type")

    def _code_grant(self, form: Mapping[str, str]) -> web.Response | dict[str, Any]:
        code = self._codes.get(form.get("code", ""))
        if code is None:
            return _oauth_error("invalid_grant", "unknown authorization code")
        if code.used:
            if code.grant is not None:  # RFC 6749 §4.1.2: revoke what the code produced
                code.grant.revoked = True
            return _oauth_error("invalid_grant", "authorization code already used")
        code.used = True
        if code.expires_at < time.time():
            return _oauth_error("invalid_grant", "authorization code expired")
        if form.get("redirect_uri") != code.request.redirect_uri:
            return _oauth_error("invalid_grant", "redirect_uri does not match")
        verifier = form.get("code_verifier", "")
        if not _VERIFIER_RE.fullmatch(verifier):
            return _oauth_error("invalid_grant", "a valid code_verifier is required")
        computed = _b64(hashlib.sha256(verifier.encode("ascii")).digest())
        if not hmac.compare_digest(computed, code.request.code_challenge):
            return _oauth_error("invalid_grant", "code_verifier does not match code_challenge")
        code.grant = _Grant(sub=code.sub, scope=code.request.scope, auth_time=code.auth_time)
        return self._issue_tokens(code.grant, nonce=code.request.nonce)

    def _refresh_grant(self, form: Mapping[str, str]) -> web.Response | dict[str, Any]:
        if "refresh_error" in self.failures:
            return _oauth_error("invalid_grant", "refresh rejected (failure mode)")
        token = form.get("refresh_token", "")
        grant = self._refresh_tokens.get(token)
        if grant is None or grant.revoked:
            return _oauth_error("invalid_grant", "unknown or revoked refresh token")
        if not hmac.compare_digest(token, grant.refresh_token):
            grant.revoked = True  # a rotated token came back: assume theft (RFC 9700 §4.14.2)
            return _oauth_error("invalid_grant", "refresh token reused; the grant is revoked")
        requested = form.get("scope")
        if requested is not None and not set(requested.split()) <= set(grant.scope.split()):
            return _oauth_error("invalid_scope", "scope exceeds the original grant")
        return self._issue_tokens(grant, nonce=None, scope=requested)

    async def _huge_response(self, request: web.Request) -> web.StreamResponse:
        """About 5 MB of valid JSON, chunked without a Content-Length."""
        response = web.StreamResponse(headers=_NO_STORE)
        response.content_type = "application/json"
        await response.prepare(request)
        chunk = b"x" * 65536
        try:
            await response.write(b'{"access_token":"huge","token_type":"Bearer","padding":"')
            for _ in range(80):
                await response.write(chunk)
            await response.write(b'"}')
            await response.write_eof()
        except ConnectionError:
            pass
        return response

    async def _trickle(self, request: web.Request, body: bytes, status: int) -> web.StreamResponse:
        """Send the JSON *body* one byte per second."""
        response = web.StreamResponse(status=status, headers=_NO_STORE)
        response.content_type = "application/json"
        response.content_length = len(body)
        await response.prepare(request)
        try:
            for index in range(len(body)):
                await response.write(body[index : index + 1])
                if index + 1 < len(body) and not await _hang(request, 1.0):
                    return response
            await response.write_eof()
        except ConnectionError:
            pass
        return response

    # ---- userinfo, protected API, revocation, logout -------------------------------------------

    async def _userinfo(self, request: web.Request) -> web.Response:
        self.calls["userinfo"] += 1
        fails = self.failures
        if "userinfo_500" in fails:
            return web.json_response({"error": "server_error"}, status=500)
        if "userinfo_401" in fails:
            return _bearer_challenge("invalid_token")
        if "Authorization" not in request.headers:
            return _bearer_challenge()
        token = self._bearer(request)
        if token is None:
            return _bearer_challenge("invalid_token")
        if "userinfo_html" in fails:
            return _page("Profile", "<h1>Your profile</h1>")
        claims = self._account(token.grant.sub).claims()
        if "userinfo_wrong_sub" in fails:
            claims["sub"] = "someone-else"
        if "userinfo_not_object" in fails:
            return web.json_response([claims], headers=_NO_STORE)
        return web.json_response(claims, headers=_NO_STORE)

    async def _api_me(self, request: web.Request) -> web.Response:
        self.calls["api"] += 1
        if "Authorization" not in request.headers:
            return _bearer_challenge()
        token = self._bearer(request)
        if token is None:
            return _bearer_challenge("invalid_token")
        account = self._account(token.grant.sub)
        body = {"sub": account.sub, "name": account.name, "token_scope": token.scope}
        return web.json_response(body, headers=_NO_STORE)

    async def _revoke(self, request: web.Request) -> web.Response:
        self.calls["revoke"] += 1
        if "revoke_timeout" in self.failures:
            await _hang(request)
            return _oauth_error("temporarily_unavailable", "timed out", 503)
        if "revoke_500" in self.failures:
            return _oauth_error("server_error", "internal error (failure mode)", 500)
        form, _ = await _read_form(request)
        error = self._authenticate_client(request, form)
        if error is not None:
            return error
        token = form.get("token")
        if not token:
            return _oauth_error("invalid_request", "token is required")
        if (access := self._access_tokens.get(token)) is not None:
            access.revoked = True
        elif (grant := self._refresh_tokens.get(token)) is not None:
            grant.revoked = True  # the whole family, its access tokens included
        return web.Response(status=200, headers=_NO_STORE)

    async def _end_session(self, request: web.Request) -> web.Response:
        """OIDC RP-Initiated Logout: redirect to ``post_logout_redirect_uri`` or say goodbye."""
        self.calls["end_session"] += 1
        params = dict(request.query)
        if request.method == "POST":
            params.update((await _read_form(request))[0])
        self.logout_requests.append(params)
        target = params.get("post_logout_redirect_uri")
        if target is None:
            return _page("Signed out", "<h1>Signed out</h1><p>You can close this window.</p>")
        if not _usable_redirect_uri(target):
            return _error_page("post_logout_redirect_uri must be an absolute http(s) URL.")
        if params.get("client_id", self.client_id) != self.client_id:
            return _error_page("Unknown client_id.")
        state = params.get("state")
        return _redirect(_add_query(target, {"state": state} if state is not None else {}))
