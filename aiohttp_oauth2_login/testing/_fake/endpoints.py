"""The fake provider's HTTP endpoints: discovery (OIDC Discovery §4), JWKS, authorization
(RFC 6749 §4.1, RFC 7636, RFC 9207), token (§4.1.3, §6), userinfo (OIDC Core §5.3), revocation
(RFC 7009), RP-Initiated Logout and a protected API, each bent by the failure modes; the
grant rules they apply are in ``grants``.

A mixin, so that subclasses of ``FakeProvider`` can override a handler; the state it uses is
declared on the class and set up by ``FakeProvider.__init__``. A ``Persona`` (a "personality":
plain OIDC here, GitHub, Google or Facebook in their own modules) picks the routes and bends the
shared handlers into that provider's documented shapes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from .grants import authorize_error, redeem_code, redeem_refresh_token
from .http import (
    NO_STORE,
    add_query,
    authenticate_client,
    bearer_challenge,
    bearer_token,
    client_auth_method,
    hang,
    huge_response,
    oauth_error,
    read_form,
    redirect,
    trickle,
    usable_redirect_uri,
)
from .mint import TokenMint
from .model import (
    DEFAULT_ACCOUNTS,
    EVIL_ISSUER,
    FAILURE_MODES,
    AccessToken,
    AuthRequest,
    FakeAccount,
    Grant,
    account_for,
)
from .pages import error_page, page, sign_in_page

CLAIMS_SUPPORTED = (
    "sub iss aud exp iat auth_time nonce azp name email email_verified preferred_username picture"
).split()


class Persona:
    """A provider personality: plain OpenID Connect; subclasses speak like GitHub, Google, ..."""

    name = "oidc"
    title = "Development sign-in"
    #: whether ID tokens are issued (``openid`` scope) and the ``id_token_*`` modes apply
    oidc = True
    #: whether the authorization response carries ``iss`` (RFC 9207)
    sends_iss = True
    #: whether a refresh grant hands out a new refresh token (RFC 9700 §4.14.2)
    rotates_refresh_tokens = True
    #: the failure modes that change what this personality answers
    failure_modes: frozenset[str] = FAILURE_MODES
    default_accounts: tuple[FakeAccount, ...] = DEFAULT_ACCOUNTS

    def __init__(self, fake: Endpoints) -> None:
        self.fake = fake

    def add_routes(self, router: web.UrlDispatcher) -> None:
        self.fake._add_oidc_routes(router)

    def discovery(self, document: dict[str, Any]) -> dict[str, Any]:
        return document

    def claims(self, account: FakeAccount) -> dict[str, Any]:
        """The account's claims as this provider writes them (ID token and userinfo)."""
        return account.claims()

    def user_id(self, account: FakeAccount) -> str:
        """The id the matching preset gives the user (``User.id``)."""
        return account.sub

    def profile(self, account: FakeAccount) -> dict[str, Any]:
        """What the matching preset builds its ``User`` from."""
        return self.claims(account)

    def callback_params(self, auth: AuthRequest, sub: str) -> dict[str, str]:
        """Extra parameters of a successful authorization response."""
        return {}

    def refreshable(self, auth: AuthRequest) -> bool:
        """Whether the grant of *auth* comes with a refresh token."""
        return True

    def token_error(self, response: web.Response) -> web.Response:
        """An RFC 6749 §5.2 error of the token endpoint in this provider's shape."""
        return response

    def token_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """The members of a successful token response (RFC 6749 §5.1) this provider sends."""
        return body

    def token_response(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        """A successful token response in this provider's shape and encoding."""
        return web.json_response(self.token_body(body), headers=NO_STORE)


class Endpoints:
    """The request handlers of ``FakeProvider`` and the helpers only they use."""

    issuer: str
    client_id: str
    client_secret: str
    accounts: dict[str, FakeAccount]
    default_account: str
    auto_approve: bool
    title: str
    failures: set[str]
    calls: Counter[str]
    token_requests: list[dict[str, str]]
    authorize_requests: list[dict[str, str]]
    logout_requests: list[dict[str, str]]
    _mint: TokenMint
    _persona: Persona

    def _add_routes(self, router: web.UrlDispatcher) -> None:
        self._persona.add_routes(router)

    def _add_oidc_routes(self, router: web.UrlDispatcher) -> None:
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

    def _url(self, path: str) -> str:
        return self.issuer.rstrip("/") + path

    def claims_for(self, sub: str) -> dict[str, Any]:
        """The claims of account *sub* (created ad hoc if unknown) in this personality's shape."""
        return self._persona.claims(account_for(self.accounts, sub))

    def _id_token(self, grant: Grant, *, nonce: str | None) -> str | None:
        """Every ID token goes through here (tests wrap it to see them all)."""
        return self._mint.id_token(grant, nonce=nonce)

    def _authenticate_client(
        self, request: web.Request, form: Mapping[str, str]
    ) -> web.Response | None:
        return authenticate_client(
            request, form, client_id=self.client_id, client_secret=self.client_secret
        )

    # ---- discovery and keys --------------------------------------------------------------------

    async def _discovery(self, request: web.Request) -> web.Response:
        self.calls["discovery"] += 1
        if "discovery_500" in self.failures:
            return web.json_response({"error": "server_error"}, status=500)
        if "discovery_html" in self.failures:
            return page("Maintenance", "<h1>Down for maintenance</h1>")
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
        return web.json_response(self._persona.discovery(document))

    async def _jwks(self, request: web.Request) -> web.Response:
        self.calls["jwks"] += 1
        if "jwks_500" in self.failures:
            return web.json_response({"error": "server_error"}, status=500)
        return web.json_response(self._mint.jwks())

    # ---- authorization endpoint ----------------------------------------------------------------

    async def _authorize(self, request: web.Request) -> web.Response:
        self.calls["authorize"] += 1
        query = request.query
        self.authorize_requests.append(dict(query))
        client_id = query.getall("client_id", [])
        if client_id != [self.client_id]:
            return error_page("Unknown or missing client_id.")
        redirect_uri = query.getall("redirect_uri", [])
        if len(redirect_uri) != 1 or not usable_redirect_uri(redirect_uri[0]):
            return error_page("Missing or unusable redirect_uri (an absolute http(s) URL).")
        state = query.get("state")
        auth = AuthRequest(
            redirect_uri=redirect_uri[0],
            scope=query.get("scope", ""),
            state=state,
            nonce=query.get("nonce"),
            code_challenge=query.get("code_challenge", ""),
            offline=query.get("access_type") == "offline",
        )
        repeated = any(len(query.getall(key)) > 1 for key in query)
        error = authorize_error(query, repeated=repeated)
        if error is not None:
            params = {"error": error[0], "error_description": error[1]}
            if state is not None:
                params["state"] = state
            return self._authorization_response(auth.redirect_uri, params)
        if self.auto_approve:
            return self._approve(auth, self.default_account)
        interaction = self._mint.open_interaction(auth)
        selected = self.default_account
        if selected not in self.accounts:
            selected = next(iter(self.accounts), "")
        return sign_in_page(
            title=self.title,
            client_id=self.client_id,
            accounts=self.accounts.values(),
            selected=selected,
            action=request.path,
            interaction=interaction,
            auth=auth,
        )

    async def _authorize_submit(self, request: web.Request) -> web.Response:
        self.calls["authorize_submit"] += 1
        form, _ = await read_form(request)
        auth = self._mint.take_interaction(form.get("interaction", ""))
        if auth is None:
            return error_page("This sign-in request is unknown or has expired; start again.")
        action = form.get("action")
        if action == "deny":
            return self._deny(auth, "The user cancelled the sign-in.")
        if action != "approve":
            return error_page("Unknown action.")
        username = form.get("username", "").strip()
        if username:
            if len(username) > 64 or not username.isprintable():
                return error_page("A username is 1 to 64 printable characters.")
            return self._approve(auth, username)
        sub = form.get("account", "")
        if sub not in self.accounts:
            return error_page("Choose an account or type a username.")
        return self._approve(auth, sub)

    def _authorization_response(self, redirect_uri: str, params: dict[str, str]) -> web.Response:
        """Redirect back to the client, adding ``iss`` (RFC 9207) unless a failure mode says no."""
        if "iss_mismatch" in self.failures:
            params["iss"] = EVIL_ISSUER
        elif self._persona.sends_iss and "iss_missing" not in self.failures:
            params["iss"] = self.issuer
        return redirect(add_query(redirect_uri, params))

    def _approve(self, auth: AuthRequest, sub: str) -> web.Response:
        """Issue a code for *sub* and send the browser back (or deny in ``deny`` mode)."""
        if "deny" in self.failures:
            return self._deny(auth, "The user denied the request (failure mode 'deny').")
        account_for(self.accounts, sub)
        code, record = self._mint.issue_code(auth, sub)
        params = {"code": code}
        if auth.state is not None:
            params["state"] = auth.state
        params.update(self._persona.callback_params(auth, sub))
        if "implicit_tokens" in self.failures:
            grant = Grant(sub=sub, scope=auth.scope, auth_time=record.auth_time)
            params["access_token"] = self._mint.issue_access_token(grant, auth.scope)
            if self._persona.oidc:
                params["id_token"] = self._id_token(grant, nonce=auth.nonce) or ""
        return self._authorization_response(auth.redirect_uri, params)

    def _deny(self, auth: AuthRequest, description: str) -> web.Response:
        params = {"error": "access_denied", "error_description": description}
        if auth.state is not None:
            params["state"] = auth.state
        return self._authorization_response(auth.redirect_uri, params)

    # ---- token endpoint ------------------------------------------------------------------------

    async def _token(self, request: web.Request) -> web.StreamResponse:
        form, unique = await read_form(request)
        if request.method == "GET":  # Facebook's documented form of the code exchange
            form, unique = dict(request.query), len(set(request.query)) == len(request.query)
        refresh = form.get("grant_type") == "refresh_token"
        self.calls["refresh" if refresh else "token"] += 1
        self.token_requests.append({**form, "_auth": client_auth_method(request, form)})
        fails = self.failures
        if "token_timeout" in fails:
            await hang(request)
            return oauth_error("temporarily_unavailable", "timed out", 503)
        if "token_redirect" in fails:
            location = self._url("/redirect-target")
            return web.Response(status=307, headers={"Location": location, **NO_STORE})
        if "token_500" in fails:
            return oauth_error("server_error", "internal error (failure mode)", 500)
        if "token_html" in fails:
            return page("Error", "<h1>Something went wrong</h1><p>Please try again.</p>")
        if "token_error" in fails:
            return self._persona.token_error(
                oauth_error("invalid_grant", "rejected (failure mode)")
            )
        if "token_200_error" in fails:
            return web.json_response(
                {
                    "error": "bad_verification_code",
                    "error_description": "The code passed is incorrect or expired.",
                    "error_uri": "https://docs.github.com/apps/oauth-apps/troubleshooting",
                },
                headers=NO_STORE,
            )
        if "token_huge" in fails:
            return await huge_response(request)
        if not unique:
            return self._persona.token_error(oauth_error("invalid_request", "repeated parameter"))
        result = self._grant(request, form)
        if isinstance(result, web.Response):
            result = self._persona.token_error(result)
            if "token_trickle" in fails and isinstance(result.body, bytes):
                return await trickle(request, result.body, result.status)
            return result
        if "token_missing_access_token" in fails:
            del result["access_token"]
        if "token_wrong_type" in fails:
            result["token_type"] = "mac"  # noqa: S105 - a token type, not a password
        if "token_not_object" in fails:
            return web.json_response([result], headers=NO_STORE)
        if "token_trickle" in fails:
            return await trickle(request, json.dumps(result).encode(), 200)
        return self._persona.token_response(request, result)

    async def _redirect_target(self, request: web.Request) -> web.Response:
        """Where ``token_redirect`` points: it answers like a working token endpoint."""
        self.calls["redirect_target"] += 1
        form, _ = await read_form(request)
        result = self._grant(request, form)
        if isinstance(result, web.Response):
            return self._persona.token_error(result)
        return self._persona.token_response(request, result)

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
            return oauth_error("invalid_request", "grant_type is required")
        return oauth_error("unsupported_grant_type", "unsupported grant_type")

    def _code_grant(self, form: Mapping[str, str]) -> web.Response | dict[str, Any]:
        code = redeem_code(self._mint, form)
        if isinstance(code, web.Response):
            return code
        code.grant = Grant(
            sub=code.sub,
            scope=code.request.scope,
            auth_time=code.auth_time,
            refreshable=self._persona.refreshable(code.request),
        )
        return self._issue_tokens(code.grant, nonce=code.request.nonce)

    def _refresh_grant(self, form: Mapping[str, str]) -> web.Response | dict[str, Any]:
        if "refresh_error" in self.failures:
            return oauth_error("invalid_grant", "refresh rejected (failure mode)")
        grant = redeem_refresh_token(self._mint, form)
        if isinstance(grant, web.Response):
            return grant
        return self._issue_tokens(grant, nonce=None, scope=form.get("scope"))

    def _issue_tokens(
        self, grant: Grant, *, nonce: str | None, scope: str | None = None
    ) -> dict[str, Any]:
        """A token response body for *grant*, with an ID token when ``openid`` was granted."""
        body = self._mint.issue_tokens(
            grant,
            grant.scope if scope is None else scope,
            rotate=self._persona.rotates_refresh_tokens,
        )
        if self._persona.oidc and "openid" in grant.scope.split():
            id_token = self._id_token(grant, nonce=nonce)
            if id_token is not None:
                body["id_token"] = id_token
        return body

    # ---- userinfo, protected API, revocation, logout -------------------------------------------

    async def _userinfo(self, request: web.Request) -> web.Response:
        self.calls["userinfo"] += 1
        fails = self.failures
        if "userinfo_500" in fails:
            return web.json_response({"error": "server_error"}, status=500)
        if "userinfo_401" in fails:
            return bearer_challenge("invalid_token")
        if "Authorization" not in request.headers:
            return bearer_challenge()
        token = self._bearer(request)
        if token is None:
            return bearer_challenge("invalid_token")
        if "userinfo_html" in fails:
            return page("Profile", "<h1>Your profile</h1>")
        claims = self.claims_for(token.grant.sub)
        if "userinfo_wrong_sub" in fails:
            claims["sub"] = "someone-else"
        if "userinfo_not_object" in fails:
            return web.json_response([claims], headers=NO_STORE)
        return web.json_response(claims, headers=NO_STORE)

    async def _api_me(self, request: web.Request) -> web.Response:
        self.calls["api"] += 1
        if "Authorization" not in request.headers:
            return bearer_challenge()
        token = self._bearer(request)
        if token is None:
            return bearer_challenge("invalid_token")
        account = account_for(self.accounts, token.grant.sub)
        body = {"sub": account.sub, "name": account.name, "token_scope": token.scope}
        return web.json_response(body, headers=NO_STORE)

    def _bearer(self, request: web.Request) -> AccessToken | None:
        """The live access token from ``Authorization: Bearer``, if any."""
        token = bearer_token(request)
        return None if token is None else self._mint.live_access_token(token)

    async def _revoke(self, request: web.Request) -> web.Response:
        self.calls["revoke"] += 1
        if "revoke_timeout" in self.failures:
            await hang(request)
            return oauth_error("temporarily_unavailable", "timed out", 503)
        if "revoke_500" in self.failures:
            return oauth_error("server_error", "internal error (failure mode)", 500)
        form, _ = await read_form(request)
        error = self._authenticate_client(request, form)
        if error is not None:
            return error
        token = form.get("token")
        if not token:
            return oauth_error("invalid_request", "token is required")
        self._mint.revoke(token)
        return web.Response(status=200, headers=NO_STORE)

    async def _end_session(self, request: web.Request) -> web.Response:
        """OIDC RP-Initiated Logout: redirect to ``post_logout_redirect_uri`` or say goodbye."""
        self.calls["end_session"] += 1
        params = dict(request.query)
        if request.method == "POST":
            params.update((await read_form(request))[0])
        self.logout_requests.append(params)
        target = params.get("post_logout_redirect_uri")
        if target is None:
            return page("Signed out", "<h1>Signed out</h1><p>You can close this window.</p>")
        if not usable_redirect_uri(target):
            return error_page("post_logout_redirect_uri must be an absolute http(s) URL.")
        if params.get("client_id", self.client_id) != self.client_id:
            return error_page("Unknown client_id.")
        state = params.get("state")
        return redirect(add_query(target, {"state": state} if state is not None else {}))
