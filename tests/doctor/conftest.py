"""Fixtures of the doctor tests: the doctor run in-process, the fake provider, hand-made
discovery servers (for faults the fake has no switch for) and panva oidc-provider."""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from aiohttp_oauth2_login.__main__ import main
from aiohttp_oauth2_login.testing import FakeProvider

from ..e2e._harness import E2E, Peer, require_node_peers, start_peer
from .apps import CLIENT_SECRET, GITHUB_SECRET, KEY

SECRETS = (KEY, CLIENT_SECRET, GITHUB_SECRET)


@dataclass
class Result:
    """One doctor run: exit code, output, and the JSON report when ``--json`` was given."""

    code: int
    out: str
    err: str

    @property
    def report(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.out)
        return data

    def levels(self, check_id: str) -> list[str]:
        """The levels of every check with this id (usually one)."""
        return [c["level"] for c in self.report["checks"] if c["id"] == check_id]

    def check(self, check_id: str) -> dict[str, Any]:
        found = [c for c in self.report["checks"] if c["id"] == check_id]
        assert len(found) == 1, (check_id, self.report["checks"])
        check: dict[str, Any] = found[0]
        return check

    def faults(self) -> set[str]:
        return {c["id"] for c in self.report["checks"] if c["level"] == "FAULT"}


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text


Doctor = Callable[..., Awaitable[Result]]


@pytest.fixture
def doctor(capsys: pytest.CaptureFixture[str]) -> Doctor:
    """``await doctor("tests.doctor.apps:make_app", "--json")``: ``main`` in a thread, so the
    servers of the test's event loop keep answering it."""

    async def run(*args: str) -> Result:
        capsys.readouterr()
        code = await asyncio.to_thread(main, ["check", *args])
        captured = capsys.readouterr()
        assert_no_secret(captured.out, captured.err)
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
async def fake_op() -> AsyncIterator[FakeProvider]:
    """The testing kit's fake OIDC provider on a free loopback port."""
    fake = FakeProvider()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def _rsa_jwk() -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}


@pytest.fixture(scope="session")
def rsa_jwk() -> dict[str, Any]:
    return _rsa_jwk()


def good_discovery(issuer: str) -> dict[str, Any]:
    """A discovery document the doctor has nothing to say against."""
    return {
        "issuer": issuer,
        "authorization_endpoint": issuer + "/authorize",
        "token_endpoint": issuer + "/token",
        "userinfo_endpoint": issuer + "/userinfo",
        "jwks_uri": issuer + "/jwks",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "authorization_response_iss_parameter_supported": True,
    }


@dataclass
class HandMade:
    """What a hand-made discovery server answers (change it before the doctor runs)."""

    changes: dict[str, Any]
    jwks: dict[str, Any]
    date_offset: float | None = 0.0  # seconds added to the Date header; None: aiohttp's own
    discovery_status: int = 200
    redirect: bool = False
    hang: bool = False
    issuer: str = ""


MakeOP = Callable[..., Awaitable[HandMade]]


@pytest.fixture
async def handmade_op(aiohttp_server: Any, rsa_jwk: dict[str, Any]) -> AsyncIterator[MakeOP]:
    """``await handmade_op(changes={...}, date_offset=...)``: a provider made of a discovery
    document and a JWKS on a free port; ``changes`` edit the good document (None deletes)."""
    release = asyncio.Event()

    async def make(**options: Any) -> HandMade:
        spec = HandMade(changes=options.pop("changes", {}), jwks={"keys": [rsa_jwk]}, **options)

        def dated(response: web.StreamResponse) -> web.StreamResponse:
            if spec.date_offset is not None:
                response.headers["Date"] = email.utils.formatdate(
                    time.time() + spec.date_offset, usegmt=True
                )
            return response

        async def discovery(request: web.Request) -> web.StreamResponse:
            if spec.hang:
                await release.wait()
            if spec.redirect:
                raise web.HTTPFound(spec.issuer + "/elsewhere")
            doc = good_discovery(spec.issuer)
            for key, value in spec.changes.items():
                if value is None:
                    doc.pop(key, None)
                else:
                    doc[key] = value
            return dated(web.json_response(doc, status=spec.discovery_status))

        async def jwks(request: web.Request) -> web.StreamResponse:
            return dated(web.json_response(spec.jwks))

        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", discovery)
        app.router.add_get("/jwks", jwks)
        server = await aiohttp_server(app)
        spec.issuer = str(server.make_url("")).rstrip("/")
        return spec

    yield make
    release.set()


@pytest.fixture(scope="module")
def oidc_provider() -> Iterator[Peer]:
    """panva oidc-provider 9.13.3, the peer of the e2e suite, in its own process."""
    node = require_node_peers()
    peer = start_peer("oidc-provider-doctor", [node, str(E2E / "oidc_provider_server.mjs")])
    try:
        yield peer
    finally:
        peer.stop()
