"""The Facebook personality of the fake provider: Facebook Login and the Graph API as documented.

"Manually Build a Login Flow": the ``/{version}/dialog/oauth`` dialog and the
``/{version}/oauth/access_token`` exchange (``{"access_token", "token_type": "bearer",
"expires_in"}``, no refresh token, errors as Graph error objects with HTTP 400); the Graph API's
``/me`` with ``fields``, ``/me/permissions`` and its deletion (de-authorization). Every Graph call
must carry ``appsecret_proof`` ("Securing Graph API Requests", as with "Require App Secret" on):
missing or wrong, it is refused. Paths work with a version prefix (``/v26.0/me``) or without.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import Any

from aiohttp import web

from .endpoints import Persona
from .http import NO_STORE, bearer_token, hang, read_form
from .model import FAILURE_MODES, AccessToken, AuthRequest, FakeAccount, account_for, numeric_id
from .pages import page

_VERSION = r"/{version:v[0-9]+\.[0-9]+}"
FACEBOOK_FAILURE_MODES = frozenset(
    mode
    for mode in FAILURE_MODES
    if mode.startswith("token_")
    or mode in {"userinfo_401", "userinfo_500", "userinfo_html", "userinfo_not_object"}
    or mode in {"deny", "implicit_tokens", "revoke_500", "revoke_timeout"}
)
DEFAULT_FIELDS = ("id", "name")


def graph_error(
    message: str, code: int, *, status: int = 400, kind: str = "OAuthException", subcode: int = 0
) -> web.Response:
    """A Graph API error object ("Handling Errors")."""
    error: dict[str, Any] = {"message": message, "type": kind, "code": code}
    if subcode:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = secrets.token_urlsafe(9)
    return web.json_response({"error": error}, status=status, headers=NO_STORE)


def _token_error(error: str, description: str) -> web.Response:
    if error == "invalid_client":
        return graph_error("Error validating client secret.", 1)
    if error == "invalid_grant" and "already used" in description:
        return graph_error("This authorization code has been used.", 100, subcode=36009)
    if error == "invalid_grant" and "expired" in description:
        return graph_error("This authorization code has expired.", 100, subcode=36007)
    if error == "invalid_grant" and "redirect_uri" in description:
        message = (
            "Error validating verification code. Please make sure your redirect_uri is "
            "identical to the one you used in the OAuth dialog request"
        )
        return graph_error(message, 100, subcode=36008)
    if error == "invalid_grant":
        return graph_error("Invalid verification code format.", 100)
    return graph_error(description or error, 100)


class FacebookPersona(Persona):
    """www.facebook.com's dialog and graph.facebook.com, on one fake origin."""

    name = "facebook"
    title = "Log in with Facebook (fake)"
    oidc = False
    sends_iss = False
    failure_modes = FACEBOOK_FAILURE_MODES

    def add_routes(self, router: web.UrlDispatcher) -> None:
        fake = self.fake
        router.add_post("/redirect-target", fake._redirect_target)
        for prefix in ("", _VERSION):
            router.add_get(prefix + "/dialog/oauth", fake._authorize)
            router.add_post(prefix + "/dialog/oauth", fake._authorize_submit)
            router.add_get(prefix + "/oauth/access_token", fake._token)
            router.add_post(prefix + "/oauth/access_token", fake._token)
            router.add_get(prefix + "/me", self._me)
            router.add_get(prefix + "/me/permissions", self._permissions)
            router.add_delete(prefix + "/me/permissions", self._deauthorize)

    # ---- identity --------------------------------------------------------------------------

    def user_id(self, account: FakeAccount) -> str:
        return str(numeric_id(account.sub, 17))

    def me(self, account: FakeAccount, fields: tuple[str, ...], scope: str) -> dict[str, Any]:
        """``GET /me?fields=...``: only the fields asked for; ``email`` needs its permission."""
        picture = (
            account.picture or f"{self.fake.issuer.rstrip('/')}/avatar/{self.user_id(account)}"
        )
        first, _, last = (account.name or "").partition(" ")
        known: dict[str, Any] = {
            "id": self.user_id(account),
            "name": account.name or account.sub,
            "first_name": first or account.sub,
            "last_name": last,
            "picture": {
                "data": {"height": 50, "is_silhouette": False, "url": picture, "width": 50}
            },
        }
        if account.email is not None and "email" in scope.replace(",", " ").split():
            known["email"] = account.email
        return {field: known[field] for field in fields if field in known}

    def profile(self, account: FakeAccount) -> dict[str, Any]:
        return self.me(account, ("id", "name", "email", "picture"), "email public_profile")

    # ---- login endpoints -------------------------------------------------------------------

    def refreshable(self, auth: AuthRequest) -> bool:
        return False  # long-lived tokens, no refresh tokens

    def token_error(self, response: web.Response) -> web.Response:
        try:
            body = json.loads(response.text or "")
        except ValueError:
            return response
        if not isinstance(body, dict) or not isinstance(body.get("error"), str):
            return response
        return _token_error(body["error"], str(body.get("error_description", "")))

    def token_body(self, body: dict[str, Any]) -> dict[str, Any]:
        keep = ("access_token", "token_type", "expires_in")
        answer: dict[str, Any] = {k: body[k] for k in keep if k in body}
        if isinstance(answer.get("token_type"), str):
            answer["token_type"] = answer["token_type"].lower()
        return answer

    # ---- Graph API -------------------------------------------------------------------------

    async def _graph_token(self, request: web.Request) -> AccessToken | web.Response:
        """The live user token of the call, after checking its ``appsecret_proof``."""
        params = dict(request.query)
        if request.method != "GET":
            params.update((await read_form(request))[0])
        token = bearer_token(request) or params.get("access_token")
        if not token:
            message = "An active access token must be used to query information about the user."
            return graph_error(message, 2500)
        access = self.fake._mint.live_access_token(token)
        if access is None:
            return graph_error("Invalid OAuth access token - Cannot parse access token", 190)
        proof = params.get("appsecret_proof")
        if proof is None:
            message = "API calls from the server require an appsecret_proof argument"
            return graph_error(message, 100, kind="GraphMethodException")
        expected = hmac.new(self.fake.client_secret.encode(), token.encode(), hashlib.sha256)
        if not hmac.compare_digest(proof.encode(), expected.hexdigest().encode()):
            message = "Invalid appsecret_proof provided in the API argument"
            return graph_error(message, 100, kind="GraphMethodException")
        return access

    async def _me(self, request: web.Request) -> web.Response:
        fake = self.fake
        fake.calls["userinfo"] += 1
        if "userinfo_500" in fake.failures:
            return graph_error("An unknown error has occurred.", 1, status=500)
        if "userinfo_401" in fake.failures:
            return graph_error("Error validating access token.", 190, status=401)
        access = await self._graph_token(request)
        if isinstance(access, web.Response):
            return access
        if "userinfo_html" in fake.failures:
            return page("Facebook", "<h1>Sorry, something went wrong.</h1>")
        raw = request.query.get("fields")
        fields = tuple(f.strip() for f in raw.split(",")) if raw else DEFAULT_FIELDS
        me = self.me(account_for(fake.accounts, access.grant.sub), fields, access.scope)
        if "userinfo_not_object" in fake.failures:
            return web.json_response([me], headers=NO_STORE)
        return web.json_response(me, headers=NO_STORE)

    async def _permissions(self, request: web.Request) -> web.Response:
        self.fake.calls["permissions"] += 1
        access = await self._graph_token(request)
        if isinstance(access, web.Response):
            return access
        granted = access.scope.replace(",", " ").split()
        data = [{"permission": name, "status": "granted"} for name in granted]
        return web.json_response({"data": data}, headers=NO_STORE)

    async def _deauthorize(self, request: web.Request) -> web.Response:
        """``DELETE /me/permissions``: the app loses the user (every token of the grant)."""
        fake = self.fake
        fake.calls["revoke"] += 1
        if "revoke_timeout" in fake.failures:
            await hang(request)
            return graph_error("Service temporarily unavailable", 2, status=503)
        if "revoke_500" in fake.failures:
            return graph_error("An unknown error has occurred.", 1, status=500)
        access = await self._graph_token(request)
        if isinstance(access, web.Response):
            return access
        access.grant.revoked = True
        return web.json_response({"success": True}, headers=NO_STORE)
