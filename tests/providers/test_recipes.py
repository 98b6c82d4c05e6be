"""The provider recipes of docs/providers.md run as written against recorded discovery documents.

Each ``### <Provider>`` section under ``## Recipes`` holds one Python block that assigns
``provider``. The test serves ``tests/data/<provider>/discovery.json`` on loopback (the issuer's
origin rewritten to the test server's, in the document and in the recipe alike), runs the recipe,
sets up an app with it, starts a login and checks the endpoints discovery resolved — so a recipe
that stops matching the library or its provider's document fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from yarl import URL

from aiohttp_oauth2_login import generate_key, setup_oauth
from aiohttp_oauth2_login.providers import OIDCProvider
from aiohttp_oauth2_login.testing import find_login

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
#: recipe heading -> the folder of its recorded discovery document
RECIPES = {
    "Keycloak": "keycloak",
    "Microsoft Entra ID": "entra",
    "Okta": "okta",
    "Auth0": "auth0",
    "GitLab": "gitlab",
}


def recipes() -> dict[str, str]:
    """heading -> the Python code of that recipe in docs/providers.md."""
    text = (ROOT / "docs" / "providers.md").read_text(encoding="utf-8")
    section = text.split("\n## Recipes\n", 1)[1].split("\n## ", 1)[0]
    found = {}
    for part in section.split("\n### ")[1:]:
        heading, body = part.split("\n", 1)
        code = re.search(r"```python\n(.*?)```", body, re.S)
        assert code is not None, f"recipe {heading!r} has no python block"
        found[heading.strip()] = code.group(1)
    return found


def test_every_recipe_is_checked() -> None:
    assert set(recipes()) == set(RECIPES)


async def serve_discovery(path: str, served: dict[str, Any]) -> TestServer:
    """A loopback server answering ``path`` with ``served`` (filled in once the port is known)."""
    app = web.Application()

    async def discovery(request: web.Request) -> web.Response:
        return web.json_response(served)

    app.router.add_get(path, discovery)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return server


@pytest.mark.parametrize("heading", sorted(RECIPES))
async def test_recipe_configures(
    heading: str, aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    recorded = (DATA / RECIPES[heading] / "discovery.json").read_text(encoding="utf-8")
    issuer = URL(json.loads(recorded)["issuer"])
    origin = str(issuer.origin())
    served: dict[str, Any] = {}
    path = issuer.path.rstrip("/") + "/.well-known/openid-configuration"
    server = await serve_discovery(path, served)
    try:
        local = str(server.make_url("/").origin())
        doc = json.loads(recorded.replace(origin, local))
        served.update(doc)
        code = recipes()[heading].replace(origin, local)
        for name in set(re.findall(r'os\.environ\["([A-Z0-9_]+)"\]', code)):
            monkeypatch.setenv(name, f"recipe-{name.lower()}")
        if "ENTRA_TENANT_ID" in code:  # the tenant of the recorded document
            monkeypatch.setenv("ENTRA_TENANT_ID", URL(doc["issuer"]).parts[1])
        namespace: dict[str, Any] = {}
        exec(compile(code, f"docs/providers.md ({heading})", "exec"), namespace)  # noqa: S102
        provider = namespace["provider"]
        assert isinstance(provider, OIDCProvider)
        assert provider.issuer == doc["issuer"]

        app = web.Application()
        setup_oauth(app, providers=[provider], secret_key=generate_key())
        client = await aiohttp_client(app)
        resp = await client.get(f"/auth/login/{provider.name}", allow_redirects=False)
        assert resp.status == 302, await resp.text()
        location = URL(resp.headers["Location"])
        assert str(location.with_query(None)) == doc["authorization_endpoint"]
        query = location.query
        assert query["client_id"] == provider.client_id
        assert query["code_challenge_method"] == "S256"
        assert query["redirect_uri"].endswith(f"/auth/callback/{provider.name}")
        assert set(query["scope"].split()) == set(provider.scopes)

        login = find_login(app)
        endpoints = await provider.endpoints(login.http, login.config.limits)
        assert endpoints.token_url == doc["token_endpoint"]
        assert endpoints.jwks_uri == doc["jwks_uri"]
        assert endpoints.userinfo_url == doc.get("userinfo_endpoint")
        assert endpoints.revocation_url == doc.get("revocation_endpoint")
        assert endpoints.end_session_url == doc.get("end_session_endpoint")
        assert endpoints.iss_parameter_supported is (
            doc.get("authorization_response_iss_parameter_supported") is True
        )
        assert endpoints.id_token_algorithms
        assert not {"none", "HS256", "HS384", "HS512"} & set(endpoints.id_token_algorithms)
    finally:
        await server.close()
