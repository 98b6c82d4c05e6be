"""The Google personality of the fake provider: OpenID Connect with Google's documented quirks.

From Google's discovery document and "OpenID Connect" / "Using OAuth 2.0 for Web Server
Applications": Google's endpoint paths, no ``end_session_endpoint`` and no RFC 9207 promise (the
authorization response still carries ``iss``, plus ``scope``, ``authuser``, ``prompt`` and
``hd``); the ``hd`` claim for Workspace accounts; ``email_verified`` written as the *string*
``"true"``; a refresh token only with ``access_type=offline``, never rotated; revocation at
``/revoke`` without client authentication, which ends the whole grant.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .endpoints import Persona
from .http import NO_STORE, hang, oauth_error, read_form
from .model import FAILURE_MODES, AuthRequest, FakeAccount, account_for

_SCOPE_URLS = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}
GOOGLE_CLAIMS = (
    "aud email email_verified exp family_name given_name hd iat iss name picture sub"
).split()

DEFAULT_GOOGLE_ACCOUNTS = (
    FakeAccount(
        sub="alice",
        name="Alice Example",
        email="alice@example.com",
        extra_claims={"hd": "example.com"},
    ),
    FakeAccount(sub="bob", name="Bob Example", email="bob@gmail.com"),
)


class GooglePersona(Persona):
    """accounts.google.com: discovery, consent, token, userinfo, revoke."""

    name = "google"
    title = "Sign in with Google (fake)"
    rotates_refresh_tokens = False
    failure_modes = FAILURE_MODES - {"iss_missing"}  # iss is never promised, so never missed
    default_accounts = DEFAULT_GOOGLE_ACCOUNTS

    def add_routes(self, router: web.UrlDispatcher) -> None:
        fake = self.fake
        router.add_get("/.well-known/openid-configuration", fake._discovery)
        router.add_get("/oauth2/v3/certs", fake._jwks)
        router.add_get("/o/oauth2/v2/auth", fake._authorize)
        router.add_post("/o/oauth2/v2/auth", fake._authorize_submit)
        router.add_post("/token", fake._token)
        router.add_post("/redirect-target", fake._redirect_target)
        router.add_route("GET", "/v1/userinfo", fake._userinfo)
        router.add_route("POST", "/v1/userinfo", fake._userinfo)
        router.add_get("/oauth2/v3/userinfo", fake._userinfo)
        router.add_post("/revoke", self._revoke)

    def discovery(self, document: dict[str, Any]) -> dict[str, Any]:
        base = self.fake.issuer.rstrip("/")
        return {
            "issuer": document["issuer"],
            "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/v1/userinfo",
            "revocation_endpoint": f"{base}/revoke",
            "jwks_uri": f"{base}/oauth2/v3/certs",
            "response_types_supported": ["code", "token", "id_token", "code id_token", "none"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": GOOGLE_CLAIMS,
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
        }

    def claims(self, account: FakeAccount) -> dict[str, Any]:
        claims = account.claims()
        if "email_verified" in claims:  # Google writes the boolean as a string
            claims["email_verified"] = "true" if claims["email_verified"] is True else "false"
        return claims

    def callback_params(self, auth: AuthRequest, sub: str) -> dict[str, str]:
        scopes = [_SCOPE_URLS.get(s, s) for s in auth.scope.split()]
        params = {"scope": " ".join(scopes), "authuser": "0", "prompt": "consent"}
        hd = account_for(self.fake.accounts, sub).extra_claims.get("hd")
        if isinstance(hd, str):
            params["hd"] = hd
        return params

    def refreshable(self, auth: AuthRequest) -> bool:
        return auth.offline

    async def _revoke(self, request: web.Request) -> web.Response:
        """Revoke an access or refresh token and with it the whole grant (200, else 400)."""
        fake = self.fake
        fake.calls["revoke"] += 1
        if "revoke_timeout" in fake.failures:
            await hang(request)
            return oauth_error("temporarily_unavailable", "timed out", 503)
        if "revoke_500" in fake.failures:
            return oauth_error("server_error", "internal error (failure mode)", 500)
        form, _ = await read_form(request)
        token = form.get("token") or request.query.get("token", "")
        mint = fake._mint
        access = mint.access_tokens.get(token)
        grant = access.grant if access is not None else mint.refresh_tokens.get(token)
        if grant is None or grant.revoked or (access is not None and access.revoked):
            return oauth_error("invalid_token", "Token expired or revoked")
        grant.revoked = True
        return web.json_response({}, headers=NO_STORE)
