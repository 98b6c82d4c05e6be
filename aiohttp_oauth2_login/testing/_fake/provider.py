"""An in-process fake OAuth 2.0 / OpenID Connect provider, served by aiohttp.

It follows RFC 6749, RFC 7636 (S256 only), RFC 7009, RFC 9207 and OIDC Core / Discovery /
RP-Initiated Logout closely enough to sign a real relying party in, and it can be switched into
hostile behaviour with :meth:`FakeProvider.fail` so tests can prove the relying party refuses it.
It is also the example app's offline "dev" provider, hence the human-usable sign-in page.
Self-contained on purpose: it imports nothing else from ``aiohttp_oauth2_login``.

This module is the facade: configuration, serving and the test helpers. The handlers are in
``endpoints`` (their rules in ``grants``), what is issued and remembered in ``mint``, the HTML
in ``pages``, the records in ``model``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from aiohttp import web

from .endpoints import Endpoints
from .http import watch_shutdown
from .mint import TokenMint
from .model import DEFAULT_ACCOUNTS, FAILURE_MODES, AccessToken, FakeAccount, Grant

__all__ = ["FAILURE_MODES", "FakeAccount", "FakeProvider"]


class FakeProvider(Endpoints):
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
        self._mint = TokenMint(self)
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
