"""Recorded provider responses served by a small aiohttp app that plays the provider.

``RecordedProvider`` answers from the JSON files of ``tests/data/<provider>/`` (each mirrors a page
of the provider's documentation, see the README there), auto-approves the authorization request
(302 back to the ``redirect_uri`` with ``code`` and ``state``), and records every request it gets
so that tests can assert what a preset sent. ``Harness`` puts an app protected by the plugin in
front of it (``tests.support.app.build_app``) with a few routes that expose the user, the stored
tokens and ``get_client``.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from multidict import CIMultiDictProxy, MultiMapping
from yarl import URL

from aiohttp_oauth2_login import get_client, get_user, login_required
from aiohttp_oauth2_login.providers import Provider
from aiohttp_oauth2_login.testing import login_flow
from aiohttp_oauth2_login.tokens import TokenSet
from aiohttp_oauth2_login.user import User

from ..support.app import JSON, Client, build_app, session_tokens, user_json

DATA = Path(__file__).resolve().parent.parent / "data"
CLIENT_SECRET_NAMES = ("client_secret", "access_token", "refresh_token", "code_verifier")


def load(provider: str, name: str) -> Any:
    """A recorded response: ``tests/data/<provider>/<name>.json``."""
    return json.loads((DATA / provider / f"{name}.json").read_text())


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode("ascii")


@dataclass(frozen=True)
class Seen:
    """One request the fake provider received."""

    method: str
    path: str
    query: MultiMapping[str]
    headers: CIMultiDictProxy[str]
    form: dict[str, str]
    json: Any
    url: URL


#: (status, body) or (status, body, headers): a dict/list body is sent as JSON, a str as text,
#: None as an empty body
Reply = tuple[int, Any] | tuple[int, Any, Mapping[str, str]]
Route = Reply | Callable[[Seen], Reply]


class RecordedProvider:
    """A provider played from recorded responses; remembers every request."""

    def __init__(self, *, authorize_path: str, callback_params: Mapping[str, str] | None = None):
        self.authorize_path = authorize_path
        #: extra parameters the provider adds to its authorization response (Google: iss, ...)
        self.callback_params = dict(callback_params or {})
        self.routes: dict[tuple[str, str], Route] = {}
        self.seen: list[Seen] = []
        self.codes: dict[str, MultiMapping[str]] = {}
        self.server: TestServer | None = None

    @property
    def url(self) -> str:
        """The origin of the running fake, without a trailing slash."""
        assert self.server is not None, "start the fake first"
        return str(self.server.make_url("/")).rstrip("/")

    def on(
        self,
        method: str,
        path: str,
        body: Any = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.routes[(method, path)] = (status, body, dict(headers or {}))

    def on_call(self, method: str, path: str, handler: Callable[[Seen], Reply]) -> None:
        self.routes[(method, path)] = handler

    def requests(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        return [
            s
            for s in self.seen
            if (method is None or s.method == method) and (path is None or s.path == path)
        ]

    def one(self, method: str, path: str) -> Seen:
        found = self.requests(method, path)
        assert len(found) == 1, f"{method} {path}: {len(found)} requests, {self._summary()}"
        return found[0]

    def _summary(self) -> list[str]:
        return [f"{s.method} {s.path}" for s in self.seen]

    @property
    def authorize(self) -> Seen:
        """The (last) authorization request the browser brought here."""
        found = self.requests("GET", self.authorize_path)
        assert found, "no authorization request"
        return found[-1]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        return app

    async def start(self, aiohttp_server: Callable[..., Any]) -> RecordedProvider:
        self.server = await aiohttp_server(self.app())
        return self

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form: dict[str, str] = {}
        body: Any = None
        if request.content_type == "application/x-www-form-urlencoded":
            form = {k: str(v) for k, v in (await request.post()).items()}
        elif request.content_type == "application/json":
            body = await request.json()
        seen = Seen(
            method=request.method,
            path=request.path,
            query=request.query,
            headers=request.headers,
            form=form,
            json=body,
            url=request.url,
        )
        self.seen.append(seen)
        if request.method == "GET" and request.path == self.authorize_path:
            return self._approve(request)
        route = self.routes.get((request.method, request.path))
        if route is None:
            return web.json_response({"message": "Not Found"}, status=404)
        status, payload, *extra = route(seen) if callable(route) else route
        headers = dict(extra[0]) if extra else {}
        if payload is None:
            return web.Response(status=status, headers=headers)
        if isinstance(payload, str):
            return web.Response(status=status, text=payload, headers=headers)
        return web.json_response(payload, status=status, headers=headers)

    def _approve(self, request: web.Request) -> web.Response:
        """Auto-approve: 302 back to ``redirect_uri`` with a fresh code and the state."""
        code = "code-" + secrets.token_urlsafe(12)
        self.codes[code] = request.query
        params = {"code": code, "state": request.query["state"], **self.callback_params}
        location = URL(request.query["redirect_uri"]).update_query(params)
        return web.Response(status=302, headers={"Location": str(location)})


class Signer:
    """An RSA key that signs ID tokens (RS256) and publishes itself as a JWKS."""

    def __init__(self, kid: str = "recorded-key-1") -> None:
        self.kid = kid
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwks(self) -> dict[str, Any]:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        public.update(kid=self.kid, use="sig", alg="RS256")
        return {"keys": [public]}

    def sign(self, claims: Mapping[str, Any]) -> str:
        return jwt.encode(dict(claims), self.key, algorithm="RS256", headers={"kid": self.kid})


@dataclass
class Clock:
    """A stand-in for the ``time`` module: real time plus ``offset`` seconds."""

    offset: float = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


@dataclass
class Harness:
    """The plugin-protected app in front of a ``RecordedProvider``."""

    client: Client
    fake: RecordedProvider
    provider: Provider
    logins: list[tuple[User, TokenSet]] = field(default_factory=list)

    async def login(self) -> Any:
        """The real login through the fake; returns the callback response."""
        return await login_flow(self.client, self.provider.name)

    async def logged_in(self) -> bool:
        resp = await self.client.get("/private", headers=JSON)
        assert resp.status in (200, 401), resp.status
        return resp.status == 200

    async def whoami(self) -> dict[str, Any]:
        resp = await self.client.get("/whoami", headers=JSON)
        assert resp.status == 200, resp.status
        data: dict[str, Any] = await resp.json()
        return data

    async def stored_token(self) -> dict[str, Any]:
        resp = await self.client.get("/token", headers=JSON)
        assert resp.status == 200, resp.status
        data: dict[str, Any] = await resp.json()
        return data

    async def api(self, path: str) -> Any:
        """GET ``path`` with ``get_client`` inside a ``@login_required`` route."""
        return await self.client.get("/api", params={"path": path}, headers=JSON)

    async def logout(self) -> Any:
        origin = str(self.client.make_url("/").origin())
        return await self.client.post(
            "/auth/logout", headers={"Origin": origin}, allow_redirects=False
        )

    def assert_no_secrets_in_urls(self, *values: str) -> None:
        """No client secret or token in any URL the fake received (appsecret_proof is a hash)."""
        assert self.provider.client_secret is not None
        sensitive = [self.provider.client_secret, *values]
        for seen in self.fake.seen:
            for name, value in seen.query.items():
                assert name not in CLIENT_SECRET_NAMES, f"{name} in the URL of {seen.path}"
                if name == "appsecret_proof":
                    continue
                for secret in sensitive:
                    assert secret not in value, f"a secret in the query of {seen.path}"
            for secret in sensitive:
                assert secret not in seen.path, f"a secret in the path {seen.path}"


@login_required
async def _whoami(request: web.Request) -> web.Response:
    user = await get_user(request)
    assert user is not None
    return web.json_response({**user_json(user), "avatar_url": user.avatar_url})


@login_required
async def _api(request: web.Request) -> web.Response:
    client = await get_client(request)
    try:
        target = str(client.resolve(request.query["path"]))
    except ValueError as exc:
        return web.json_response({"refused": str(exc)})
    async with client.get(request.query["path"]) as resp:
        body = await resp.json() if resp.content_type == "application/json" else None
        return web.json_response({"status": resp.status, "body": body, "url": target})


async def make_harness(
    aiohttp_client: Callable[..., Any],
    fake: RecordedProvider,
    provider: Provider,
    **options: Any,
) -> Harness:
    """A test client for ``build_app([provider])`` with /whoami, /token and /api routes."""
    logins: list[tuple[User, TokenSet]] = []

    async def on_login(request: web.Request, user: User, token: TokenSet) -> None:
        logins.append((user, token))

    options.setdefault("on_login", on_login)
    app = build_app([provider], **options)
    app.router.add_get("/whoami", _whoami)
    app.router.add_get("/token", session_tokens)
    app.router.add_get("/api", _api)
    client: Client = await aiohttp_client(app)
    return Harness(client=client, fake=fake, provider=provider, logins=logins)
