"""The GitHub personality of the fake provider: an OAuth app on github.com as GitHub documents it.

"Authorizing OAuth apps": ``/login/oauth/authorize`` and ``/login/oauth/access_token`` (JSON only
with ``Accept: application/json``, errors answered with HTTP 200 and an ``error`` member, no
refresh token, comma-separated ``scope``); the REST API under ``/api/v3`` as GitHub Enterprise
Server serves it (so ``GitHub(base_url=fake.issuer)`` points the preset here): ``/user``,
``/user/emails``, org and team memberships, and "Delete an app authorization"
(``DELETE /applications/{client_id}/grant`` with Basic client credentials). No OpenID Connect.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from .endpoints import Persona
from .http import NO_STORE, bearer_token, hang
from .model import FAILURE_MODES, AccessToken, AuthRequest, FakeAccount, account_for, numeric_id
from .pages import page

API = "/api/v3"
_DOCS = "https://docs.github.com/rest"
_API_HEADERS = {"X-GitHub-Api-Version": "2022-11-28", **NO_STORE}
_TOKEN_ERRORS = {
    # RFC 6749 §5.2 code (and a word of its description) -> GitHub's code and description
    "invalid_client": (
        "incorrect_client_credentials",
        "The client_id and/or client_secret passed are incorrect.",
    ),
    "redirect_uri": (
        "redirect_uri_mismatch",
        "The redirect_uri MUST match the registered callback URL for this application.",
    ),
    "invalid_grant": ("bad_verification_code", "The code passed is incorrect or expired."),
}

GITHUB_FAILURE_MODES = frozenset(
    mode
    for mode in FAILURE_MODES
    if mode.startswith("token_")
    or mode in {"userinfo_401", "userinfo_500", "userinfo_html", "userinfo_not_object"}
    or mode in {"deny", "implicit_tokens", "revoke_500", "revoke_timeout"}
)

DEFAULT_GITHUB_ACCOUNTS = (
    FakeAccount(
        sub="alice",
        name="Alice Example",
        email="alice@example.com",
        preferred_username="alice",
        orgs=("acme",),
        teams=("acme/admins",),
    ),
    FakeAccount(sub="bob", name="Bob Example", email="bob@example.com", preferred_username="bob"),
)


def _message(status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """GitHub's REST error body (``message``, ``documentation_url``, ``status``)."""
    body = {"message": message, "documentation_url": _DOCS, "status": str(status)}
    return web.json_response(body, status=status, headers={**_API_HEADERS, **(headers or {})})


class GitHubPersona(Persona):
    """github.com (OAuth app): the login endpoints, the REST API, grant deletion."""

    name = "github"
    title = "Sign in to GitHub (fake)"
    oidc = False
    sends_iss = False
    failure_modes = GITHUB_FAILURE_MODES
    default_accounts = DEFAULT_GITHUB_ACCOUNTS

    def add_routes(self, router: web.UrlDispatcher) -> None:
        fake = self.fake
        router.add_get("/login/oauth/authorize", fake._authorize)
        router.add_post("/login/oauth/authorize", fake._authorize_submit)
        router.add_post("/login/oauth/access_token", fake._token)
        router.add_post("/redirect-target", fake._redirect_target)
        router.add_get(API + "/user", self._user)
        router.add_get(API + "/user/emails", self._emails)
        router.add_get(API + "/user/memberships/orgs/{org}", self._org_membership)
        router.add_get(API + "/orgs/{org}/teams/{team}/memberships/{username}", self._team)
        router.add_delete(API + "/applications/{client_id}/grant", self._delete_grant)

    # ---- identity --------------------------------------------------------------------------

    def user_id(self, account: FakeAccount) -> str:
        return str(numeric_id(account.sub, 8))

    def login(self, account: FakeAccount) -> str:
        return account.preferred_username or account.sub

    def user(self, account: FakeAccount) -> dict[str, Any]:
        """``GET /user`` ("Get the authenticated user"); ``email`` is the public one."""
        login, base = self.login(account), self.fake.issuer.rstrip("/")
        return {
            "login": login,
            "id": int(self.user_id(account)),
            "node_id": base64.b64encode(f"04:User{self.user_id(account)}".encode()).decode(),
            "avatar_url": account.picture or f"{base}/avatars/{login}.png",
            "url": f"{base}{API}/users/{login}",
            "html_url": f"{base}/{login}",
            "type": "User",
            "site_admin": False,
            "name": account.name,
            "email": account.email if account.email_verified else None,
        }

    def emails(self, account: FakeAccount) -> list[dict[str, Any]]:
        """``GET /user/emails``: the account's address, primary, verified as configured."""
        if account.email is None:
            return []
        return [
            {
                "email": account.email,
                "verified": account.email_verified,
                "primary": True,
                "visibility": "private",
            }
        ]

    def profile(self, account: FakeAccount) -> dict[str, Any]:
        """``/user`` with the primary verified address of ``/user/emails`` (as the preset reads)."""
        profile = self.user(account)
        verified = account.email is not None and account.email_verified
        profile["email"], profile["email_verified"] = (
            (account.email, True) if verified else (None, False)
        )
        return profile

    # ---- login endpoints -------------------------------------------------------------------

    def refreshable(self, auth: AuthRequest) -> bool:
        return False  # OAuth app tokens do not expire and come without a refresh token

    def token_error(self, response: web.Response) -> web.Response:
        """GitHub answers token errors with HTTP 200 and its own codes."""
        try:
            body = json.loads(response.text or "")
        except ValueError:
            return response
        if not isinstance(body, dict) or not isinstance(body.get("error"), str):
            return response
        error, description = body["error"], str(body.get("error_description", ""))
        if error == "invalid_grant" and "redirect_uri" in description:
            error = "redirect_uri"
        code, text = _TOKEN_ERRORS.get(error, (error, description))
        uri = "https://docs.github.com/apps/oauth-apps/troubleshooting"
        answer = {"error": code, "error_description": text, "error_uri": uri}
        return web.json_response(answer, headers=NO_STORE)

    def token_body(self, body: dict[str, Any]) -> dict[str, Any]:
        """No expiry and no refresh token (OAuth app tokens), ``bearer``, comma-separated scope."""
        answer = {k: v for k, v in body.items() if k not in ("expires_in", "refresh_token")}
        if isinstance(answer.get("token_type"), str):
            answer["token_type"] = answer["token_type"].lower()
        if isinstance(answer.get("scope"), str):
            answer["scope"] = ",".join(answer["scope"].split())
        return answer

    def token_response(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        """JSON on ``Accept: application/json``, else form-encoded (GitHub's default)."""
        answer = self.token_body(body)
        if "application/json" in request.headers.get("Accept", ""):
            return web.json_response(answer, headers=NO_STORE)
        text = urlencode({k: str(v) for k, v in answer.items()})
        return web.Response(
            text=text, content_type="application/x-www-form-urlencoded", headers=NO_STORE
        )

    # ---- REST API --------------------------------------------------------------------------

    def _token(self, request: web.Request) -> AccessToken | web.Response:
        """The live token of ``Authorization: Bearer`` (or GitHub's ``token`` scheme)."""
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if not value:
            return _message(401, "Requires authentication")
        token = bearer_token(request) if scheme.lower() == "bearer" else value.strip()
        if scheme.lower() not in ("bearer", "token") or token is None:
            return _message(401, "Bad credentials")
        access = self.fake._mint.live_access_token(token)
        return _message(401, "Bad credentials") if access is None else access

    def _account(self, access: AccessToken) -> FakeAccount:
        return account_for(self.fake.accounts, access.grant.sub)

    async def _user(self, request: web.Request) -> web.Response:
        fake = self.fake
        fake.calls["userinfo"] += 1
        if "userinfo_500" in fake.failures:
            return _message(500, "Server Error")
        if "userinfo_401" in fake.failures:
            return _message(401, "Bad credentials")
        access = self._token(request)
        if isinstance(access, web.Response):
            return access
        if "userinfo_html" in fake.failures:
            return page("GitHub", "<h1>Unicorn!</h1><p>This page is taking too long.</p>")
        user = self.user(self._account(access))
        if "userinfo_not_object" in fake.failures:
            return web.json_response([user], headers=_API_HEADERS)
        return web.json_response(user, headers=_API_HEADERS)

    async def _emails(self, request: web.Request) -> web.Response:
        self.fake.calls["emails"] += 1
        access = self._token(request)
        if isinstance(access, web.Response):
            return access
        if not {"user", "user:email"} & set(access.scope.replace(",", " ").split()):
            return _message(403, "Resource not accessible by integration")
        return web.json_response(self.emails(self._account(access)), headers=_API_HEADERS)

    def _scoped(self, access: AccessToken) -> bool:
        return bool({"read:org", "write:org", "admin:org"} & set(access.scope.split()))

    async def _org_membership(self, request: web.Request) -> web.Response:
        self.fake.calls["membership"] += 1
        access = self._token(request)
        if isinstance(access, web.Response):
            return access
        org = request.match_info["org"].lower()
        account = self._account(access)
        if not self._scoped(access) or org not in {o.lower() for o in account.orgs}:
            return _message(404, "Not Found")
        base, login = self.fake.issuer.rstrip("/"), self.login(account)
        body = {
            "url": f"{base}{API}/orgs/{org}/memberships/{login}",
            "state": "active",
            "role": "member",
            "organization_url": f"{base}{API}/orgs/{org}",
            "organization": {"login": org},
            "user": {"login": login, "id": int(self.user_id(account)), "type": "User"},
        }
        return web.json_response(body, headers=_API_HEADERS)

    async def _team(self, request: web.Request) -> web.Response:
        self.fake.calls["membership"] += 1
        access = self._token(request)
        if isinstance(access, web.Response):
            return access
        info = request.match_info
        team = f"{info['org']}/{info['team']}".lower()
        member = next(
            (a for a in self.fake.accounts.values() if self.login(a) == info["username"]), None
        )
        if (
            not self._scoped(access)
            or member is None
            or team not in {t.lower() for t in member.teams}
        ):
            return _message(404, "Not Found")
        url = f"{self.fake.issuer.rstrip('/')}{API}/teams/1/memberships/{info['username']}"
        body = {"url": url, "role": "member", "state": "active"}
        return web.json_response(body, headers=_API_HEADERS)

    async def _delete_grant(self, request: web.Request) -> web.Response:
        """Revoke every token of the grant the given access token belongs to: 204."""
        fake = self.fake
        fake.calls["revoke"] += 1
        if "revoke_timeout" in fake.failures:
            await hang(request)
            return _message(503, "Service Unavailable")
        if "revoke_500" in fake.failures:
            return _message(500, "Server Error")
        if not self._client_authenticated(request):
            return _message(401, "Requires authentication")
        if request.match_info["client_id"] != fake.client_id:
            return _message(404, "Not Found")
        try:
            body = await request.json()
        except ValueError:
            body = None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            return _message(422, 'Invalid request.\n\n"access_token" wasn\'t supplied.')
        access = fake._mint.access_tokens.get(token)
        if access is None or access.revoked or access.grant.revoked:
            return _message(404, "Not Found")
        access.grant.revoked = True
        return web.Response(status=204, headers=NO_STORE)

    def _client_authenticated(self, request: web.Request) -> bool:
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        given_id, _, secret = decoded.partition(":")
        fake = self.fake
        return hmac.compare_digest(given_id.encode(), fake.client_id.encode()) and (
            hmac.compare_digest(secret.encode(), fake.client_secret.encode())
        )
