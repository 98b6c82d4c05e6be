"""A minimal Authlib + Flask OpenID Connect provider: the e2e tests' Python-only peer.

Run as ``python authlib_server.py``: it listens on 127.0.0.1 on a port the OS picks and prints one
JSON line ``{"issuer": "http://127.0.0.1:<port>", "port": <port>}``; it exits when its standard
input closes. Everything lives in memory.

What it implements, with Authlib's own grant and endpoint classes:
- discovery (with ``authorization_response_iss_parameter_supported``) and a JWKS (one RS256 key);
- the authorization code flow with a sign-in form (any user name, approve or deny), the RFC 9207
  ``iss`` parameter on every answer, PKCE **S256 required for every client** (Authlib's
  ``CodeChallenge(required=True)`` only forces it for public clients, see ``StrictCodeChallenge``);
- an OIDC ID token with the request's ``nonce``; userinfo; refresh with rotation (the used refresh
  token and its access token are revoked, and a new ID token is issued); revocation (RFC 7009).

Test-only control routes (never part of a real provider), under ``/__test/``:
``POST /__test/clients`` registers a client for the given ``redirect_uris``;
``POST /__test/expire-access-tokens`` makes a client's access tokens expire now (the refresh
tokens stay valid); ``GET /__test/stats?client_id=`` counts token endpoint outcomes (and the ID
tokens issued) per grant type.
"""

from __future__ import annotations

import html
import json
import os
import secrets
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer, ResourceProtector
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import ClientMixin, InvalidRequestError, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenValidator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import UserInfo, UserInfoEndpoint
from authlib.oidc.core.grants import OpenIDCode, OpenIDToken
from authlib.oidc.core.models import AuthorizationCodeMixin
from flask import Flask, Response, jsonify, request
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server

ISSUER = ""  # set once the server has its port
KEY = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig"})
SCOPES = ("openid", "profile", "email")
ACCESS_TOKEN_TTL = 600


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    @property
    def client_metadata(self) -> dict[str, Any]:
        return {}  # plain JSON userinfo, no signed answers

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "client_secret_basic"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: str
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time


@dataclass
class Token(TokenMixin):
    client_id: str
    user: str
    scope: str
    access_token: str
    refresh_token: str | None
    issued_at: float
    expires_in: int
    access_revoked: bool = False
    refresh_revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.access_revoked

    def get_user(self) -> str:
        return self.user

    def get_client(self) -> Client:
        return CLIENTS[self.client_id]


CLIENTS: dict[str, Client] = {}
CODES: dict[str, AuthorizationCode] = {}
BY_ACCESS: dict[str, Token] = {}
BY_REFRESH: dict[str, Token] = {}
STATS: dict[str, dict[str, dict[str, int]]] = defaultdict(
    lambda: defaultdict(lambda: {"success": 0, "error": 0, "id_token": 0})
)
LOCK = threading.Lock()  # werkzeug serves each request in its own thread


def user_info(user: str, scope: str) -> UserInfo:
    return UserInfo(
        sub=user,
        name=f"{user.capitalize()} Example",
        preferred_username=user,
        email=f"{user}@example.com",
        email_verified=True,
    ).filter(scope)


class StrictCodeChallenge(CodeChallenge):
    """PKCE S256 for every client, confidential ones included (RFC 9700 §2.1.1)."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError(
                "PKCE with code_challenge_method=S256 is required.",
                redirect_uri=redirect_uri,
                state=data.get("state"),
            )
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class IdTokenMixin:
    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return KEY

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        return {"iss": ISSUER, "aud": [client.client_id]}

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": "RS256", "kid": KEY.kid}

    def generate_user_info(self, user: str, scope: str) -> UserInfo:
        return user_info(user, scope)


class OIDCCode(IdTokenMixin, OpenIDCode):
    def exists_nonce(self, nonce: str, req: Any) -> bool:
        client_id = req.payload.client_id
        return any(c.nonce == nonce and c.client_id == client_id for c in CODES.values())


class OIDCRefresh(IdTokenMixin, OpenIDToken):
    """A new ID token with every refresh (OIDC Core §12.2)."""


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

    def save_authorization_code(self, code: str, req: Any) -> None:
        data = req.payload.data
        CODES[code] = AuthorizationCode(
            code=code,
            client_id=req.client.client_id,
            redirect_uri=req.payload.redirect_uri,
            scope=req.payload.scope,
            user=req.user,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=int(time.time()),
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        found = CODES.get(code)
        return found if found is not None and found.client_id == client.client_id else None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        CODES.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> str:
        return authorization_code.user


class RefreshGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation

    def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
        token = BY_REFRESH.get(refresh_token)
        return token if token is not None and not token.refresh_revoked else None

    def authenticate_user(self, token: Token) -> str:
        return token.user

    def revoke_old_credential(self, token: Token) -> None:
        token.refresh_revoked = token.access_revoked = True


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = ["client_secret_basic"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        if token_type_hint == "access_token":
            return BY_ACCESS.get(token_string)
        return BY_REFRESH.get(token_string) or BY_ACCESS.get(token_string)

    def revoke_token(self, token: Token, req: Any) -> None:
        token.refresh_revoked = token.access_revoked = True


class Bearer(BearerTokenValidator):
    def authenticate_token(self, token_string: str) -> Token | None:
        return BY_ACCESS.get(token_string)


class UserInfoAnswer(UserInfoEndpoint):
    def generate_user_info(self, user: str, scope: str) -> UserInfo:
        return user_info(user, scope)

    def get_issuer(self) -> str:
        return ISSUER


class Issuer(IssuerParameter):
    def get_issuer(self) -> str:
        return ISSUER


def save_token(token: dict[str, Any], req: Any) -> None:
    saved = Token(
        client_id=req.client.client_id,
        user=req.user,
        scope=token.get("scope", ""),
        access_token=token["access_token"],
        refresh_token=token.get("refresh_token"),
        issued_at=time.time(),
        expires_in=int(token["expires_in"]),
    )
    BY_ACCESS[saved.access_token] = saved
    if saved.refresh_token:
        BY_REFRESH[saved.refresh_token] = saved


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["OAUTH2_REFRESH_TOKEN_GENERATOR"] = True
    app.config["OAUTH2_TOKEN_EXPIRES_IN"] = {
        "authorization_code": ACCESS_TOKEN_TTL,
        "refresh_token": ACCESS_TOKEN_TTL,
    }
    server = AuthorizationServer(app, query_client=CLIENTS.get, save_token=save_token)
    server.register_grant(CodeGrant, [StrictCodeChallenge(required=True), OIDCCode()])
    server.register_grant(RefreshGrant, [OIDCRefresh()])
    server.register_endpoint(Revocation)
    protector = ResourceProtector()
    protector.register_token_validator(Bearer())
    server.register_endpoint(UserInfoAnswer(resource_protector=protector))
    server.register_extension(Issuer())

    @app.get("/.well-known/openid-configuration")
    def discovery() -> Response:
        return jsonify(
            issuer=ISSUER,
            authorization_endpoint=f"{ISSUER}/authorize",
            token_endpoint=f"{ISSUER}/token",
            userinfo_endpoint=f"{ISSUER}/userinfo",
            revocation_endpoint=f"{ISSUER}/revoke",
            jwks_uri=f"{ISSUER}/jwks",
            response_types_supported=["code"],
            grant_types_supported=["authorization_code", "refresh_token"],
            code_challenge_methods_supported=["S256"],
            id_token_signing_alg_values_supported=["RS256"],
            subject_types_supported=["public"],
            token_endpoint_auth_methods_supported=["client_secret_basic"],
            scopes_supported=list(SCOPES),
            authorization_response_iss_parameter_supported=True,
        )

    @app.get("/jwks")
    def jwks() -> Response:
        return jsonify(keys=[KEY.as_dict(private=False)])

    @app.get("/authorize")
    def sign_in_page() -> Response:
        try:
            server.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return server.handle_error_response(None, error)
        action = html.escape(request.full_path)
        return Response(
            "<!doctype html><title>Authlib sign-in</title><h1>Authlib sign-in</h1>"
            f'<form method="post" action="{action}">'
            '<input name="username" value="alice">'
            '<button name="action" value="approve">Approve</button>'
            '<button name="action" value="deny">Deny</button></form>',
            content_type="text/html",
        )

    @app.post("/authorize")
    def sign_in() -> Response:
        user = request.form.get("username") if request.form.get("action") == "approve" else None
        try:
            grant = server.get_consent_grant(end_user=user)
        except OAuth2Error as error:
            return server.handle_error_response(None, error)
        return server.create_authorization_response(grant_user=user, grant=grant)

    @app.post("/token")
    def token() -> Response:
        with LOCK:
            response = server.create_token_response()
            client_id = request.authorization.username if request.authorization else None
            outcome = "success" if response.status_code == 200 else "error"
            counts = STATS[client_id or "?"][request.form.get("grant_type", "?")]
            counts[outcome] += 1
            if outcome == "success" and "id_token" in json.loads(response.get_data()):
                counts["id_token"] += 1
        return response

    @app.post("/revoke")
    def revoke() -> Response:
        with LOCK:
            return server.create_endpoint_response("revocation")

    @app.get("/userinfo")
    def userinfo() -> Response:
        return server.create_endpoint_response("userinfo")

    @app.post("/__test/clients")
    def register_client() -> Response:
        body = request.get_json()
        client = Client(
            client_id="client-" + secrets.token_hex(8),
            client_secret=secrets.token_urlsafe(32),
            redirect_uris=list(body["redirect_uris"]),
        )
        CLIENTS[client.client_id] = client
        return jsonify(client_id=client.client_id, client_secret=client.client_secret)

    @app.post("/__test/expire-access-tokens")
    def expire_access_tokens() -> Response:
        client_id = request.get_json()["client_id"]
        expired = 0
        for token in BY_ACCESS.values():
            if token.client_id == client_id and not token.is_expired():
                token.issued_at -= token.expires_in + 1
                expired += 1
        return jsonify(expired=expired)

    @app.get("/__test/stats")
    def stats() -> Response:
        return jsonify(STATS.get(request.args.get("client_id", ""), {}))

    return app


def _exit_when_stdin_closes() -> None:
    sys.stdin.read()
    os._exit(0)


def main() -> None:
    global ISSUER
    httpd = make_server("127.0.0.1", 0, create_app(), threaded=True)
    ISSUER = f"http://127.0.0.1:{httpd.server_port}"
    threading.Thread(target=_exit_when_stdin_closes, daemon=True).start()
    print(json.dumps({"issuer": ISSUER, "port": httpd.server_port}), flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
