"""An in-process fake OAuth 2.0 / OpenID Connect provider, served by aiohttp.

It follows RFC 6749, RFC 7636 (S256 only), RFC 7009, RFC 9207 and OIDC Core / Discovery /
RP-Initiated Logout closely enough to sign a real relying party in, and it can be switched into
hostile behaviour with :meth:`FakeProvider.fail` so tests can prove the relying party refuses it.
It is also the example app's offline "dev" provider, hence the human-usable sign-in page.
Self-contained on purpose: it imports nothing else from ``aiohttp_oauth2_login``.

``personality`` makes it speak like GitHub, Google or Facebook instead of plain OIDC, so the real
presets sign in against it unchanged (``github``, ``google``, ``facebook`` modules).

This module is the facade: configuration, serving and the test helpers. The handlers are in
``endpoints`` (their rules in ``grants``), what is issued and remembered in ``mint``, the HTML
in ``pages``, the records in ``model``.
"""

from __future__ import annotations

import ipaddress
import itertools
import weakref
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from .endpoints import Endpoints, Persona
from .facebook import FacebookPersona
from .github import GitHubPersona
from .google import GooglePersona
from .http import watch_shutdown
from .mint import TokenMint
from .model import FAILURE_MODES, AccessToken, AuthRequest, FakeAccount, Grant, account_for

__all__ = ["FAILURE_MODES", "PERSONALITIES", "FakeAccount", "FakeProvider", "live_fakes"]

PERSONALITIES: dict[str, type[Persona]] = {
    "oidc": Persona,
    "github": GitHubPersona,
    "google": GooglePersona,
    "facebook": FacebookPersona,
}
"""The names ``FakeProvider(personality=...)`` accepts."""

_LIVE: weakref.WeakValueDictionary[int, FakeProvider] = weakref.WeakValueDictionary()
_ORDER = itertools.count()


def live_fakes() -> list[FakeProvider]:
    """Fake providers that are started or mounted (``make_app``), newest first."""
    return [_LIVE[key] for key in sorted(_LIVE.keys(), reverse=True) if key in _LIVE]


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class FakeProvider(Endpoints):
    """A fake OAuth 2.0 / OIDC authorization server with switchable failure modes.

    ``calls`` counts requests per step; ``"token"`` counts /token requests other than refresh
    grants, which count as ``"refresh"``. State lives here, so one instance may serve several apps.
    ``personality`` (see ``PERSONALITIES``) picks the provider it imitates; its default accounts
    and title follow it.
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
        title: str | None = None,
        personality: str = "oidc",
    ) -> None:
        if personality not in PERSONALITIES:
            raise ValueError(f"personality must be one of {sorted(PERSONALITIES)}: {personality!r}")
        self.personality = personality
        self._persona = PERSONALITIES[personality](self)
        self._issuer = issuer
        self._issuer_explicit = issuer is not None
        self.client_id = client_id
        self.client_secret = client_secret
        self.accounts: dict[str, FakeAccount] = {}
        for account in self._persona.default_accounts if accounts is None else accounts:
            if account.sub in self.accounts:
                raise ValueError(f"duplicate FakeAccount sub {account.sub!r}")
            self.accounts[account.sub] = account
        self.default_account = next(iter(self.accounts), "alice")
        self.auto_approve = auto_approve
        self.access_token_ttl = access_token_ttl
        self.code_ttl = code_ttl
        self.id_token_ttl = id_token_ttl
        self.title = self._persona.title if title is None else title
        self.failures: set[str] = set()
        self.calls: Counter[str] = Counter()
        self.token_requests: list[dict[str, str]] = []
        self.authorize_requests: list[dict[str, str]] = []
        self.logout_requests: list[dict[str, str]] = []
        self._mint = TokenMint(self)
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        issuer = self._issuer or "<not started>"
        return (
            f"<FakeProvider {self.personality} issuer={issuer!r} client_id={self.client_id!r} "
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

    @property
    def failure_modes(self) -> frozenset[str]:
        """The failure modes that change this personality's answers (all of them for OIDC)."""
        return self._persona.failure_modes

    def fail(self, *modes: str) -> None:
        """Switch on failure modes (see ``failure_modes``); others raise ValueError, since a
        mode this personality ignores would let a test pass without testing anything."""
        unknown = sorted(set(modes) - FAILURE_MODES)
        if unknown:
            raise ValueError(f"unknown failure mode(s) {unknown}; see FAILURE_MODES")
        idle = sorted(set(modes) - self.failure_modes)
        if idle:
            raise ValueError(
                f"failure mode(s) {idle} change nothing on the {self.personality} personality; "
                "fake.failure_modes lists those that do"
            )
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
        if self._mint.keys and not keep_old:
            self._mint.keys.clear()
        return self._mint.new_key().kid

    def expire_access_tokens(self) -> None:
        """Make every access token issued so far expired."""
        self._mint.expire_access_tokens()

    def revoked(self, token: str) -> bool:
        """Whether *token* (access or refresh) was issued here and then revoked."""
        return self._mint.revoked(token)

    def active_refresh_tokens(self) -> set[str]:
        """The refresh tokens that would currently be accepted."""
        return self._mint.active_refresh_tokens()

    def user_id(self, sub: str) -> str:
        """The ``User.id`` the matching preset gives account *sub* (GitHub and Facebook ids are
        numbers: the sub itself when it is digits, else a stable number derived from it)."""
        return self._persona.user_id(account_for(self.accounts, sub))

    def profile(self, sub: str) -> dict[str, Any]:
        """The profile the matching preset builds its ``User`` from, for account *sub*."""
        return self._persona.profile(account_for(self.accounts, sub))

    def issue_token(
        self, sub: str, *, scope: str = "", authorize_params: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """A token response body for account *sub* as if it had just signed in (no ID token):
        the access token works at this fake's API. ``authorize_params`` are those of the
        authorization request (Google's ``access_type=offline`` earns a refresh token)."""
        account_for(self.accounts, sub)
        params = dict(authorize_params or {})
        auth = AuthRequest(
            redirect_uri="",
            scope=scope,
            state=None,
            nonce=None,
            code_challenge="",
            offline=params.get("access_type") == "offline",
        )
        grant = Grant(
            sub=sub,
            scope=scope,
            auth_time=int(auth.created),
            refreshable=self._persona.refreshable(auth),
        )
        return self._persona.token_body(self._mint.issue_tokens(grant, scope))

    @property
    def _access_tokens(self) -> dict[str, AccessToken]:
        """Every access token issued, live or not (tests read it to list secrets)."""
        return self._mint.access_tokens

    @property
    def _refresh_tokens(self) -> dict[str, Grant]:
        """Every refresh token issued, rotated or not (tests read it to list secrets)."""
        return self._mint.refresh_tokens

    # ---- serving -------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        """Build an application serving the provider; mount it anywhere matching the issuer."""
        app = web.Application()
        watch_shutdown(app)
        self._add_routes(app.router)
        _LIVE[next(_ORDER)] = self
        return app

    def _listen_on(self, host: str | None, port: int | None) -> tuple[str, int, str]:
        """Host, port and mount path: an explicit ``http://<loopback>:PORT/path`` issuer names
        all three; otherwise a free port on 127.0.0.1 (or what the caller gave)."""
        mount = ""
        if self._issuer_explicit and self._issuer is not None and host is None and port is None:
            parts = urlsplit(self._issuer)
            if parts.scheme == "http" and parts.port and _loopback(parts.hostname):
                host, port = parts.hostname, parts.port
                mount = parts.path.rstrip("/")
        return host or "127.0.0.1", port or 0, mount

    async def start(self, host: str | None = None, port: int | None = None) -> str:
        """Serve on a real socket and return the issuer: on the port an explicit
        ``http://127.0.0.1:PORT`` issuer names, else on *port* (0 or none: a free one)."""
        if self._runner is not None:
            raise RuntimeError("FakeProvider is already started; call stop() first")
        host, port, mount = self._listen_on(host, port)
        app = self.make_app()
        if mount:
            root = web.Application()
            root.add_subapp(mount, app)
            app = root
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
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
            for key, fake in list(_LIVE.items()):
                if fake is self:
                    _LIVE.pop(key, None)
            await runner.cleanup()
