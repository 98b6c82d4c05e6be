"""Chaos testing for *your* app: every protected route, and the ``get_client`` calls its handlers
make, run against every failure mode of a :class:`FakeProvider`, with the invariants checked.

``report = await run_chaos(client, fake)`` signs in through the fake (the real flow), switches
each failure mode on in turn and checks, for every answer of the app and every log record:

- ``no-500``: never a 500 (an unhandled exception in a handler, or a handler that answers 500);
- ``no-unhandled-exception``: no ERROR record with a traceback in the logs;
- ``signed-out-after-failed-login``: a login that did not end in the 303 leaves nobody signed in;
- ``signed-out-after-logout``: ``POST /auth/logout`` signs out even when revocation fails (G16);
- ``no-secret-leak``: no access/refresh/ID token, authorization code, PKCE verifier or client
  secret in a log record, response body, header, ``Location`` or cookie (RFC 6819 §5.1.6);
- ``cookie-size``: every ``Set-Cookie`` is under 4096 bytes (RFC 6265 §6.1; G9).

It needs no pytest; the ``oauth_chaos`` fixture (registered by the pytest plugin) wraps it and
fails the test with the report.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import hdrs, web
from aiohttp.test_utils import TestClient, make_mocked_request
from aiohttp_session import STORAGE_KEY
from multidict import CIMultiDict
from yarl import URL

from .._oauth.http import HttpLimits
from .._plugin import OAuthLogin
from ..auth import _current_user
from . import find_login
from ._fake.provider import FAILURE_MODES, FakeProvider

__all__ = [
    "INVARIANTS",
    "ChaosFailure",
    "ChaosReport",
    "ChaosRunner",
    "failure_modes_of",
    "protected_routes",
    "run_chaos",
]

INVARIANTS: Mapping[str, str] = {
    "no-500": "the app never answers 500",
    "no-unhandled-exception": "no ERROR log record with a traceback",
    "signed-out-after-failed-login": "nobody is signed in after a login that failed",
    "signed-out-after-logout": "nobody is signed in after POST logout, whatever revocation did",
    "no-secret-leak": "no token, code, verifier or client secret in logs, pages, headers or URLs",
    "cookie-size": "every Set-Cookie is under 4096 bytes",
    "baseline-login": "the login succeeds while the fake behaves (else nothing else means much)",
}
"""What each invariant checked by :func:`run_chaos` means."""

MARKER = "__oauth_login_required__"  # set by @login_required on the handlers it wraps
MAX_SET_COOKIE = 4096
MIN_SECRET = 8  # shorter values (e.g. the fake's "huge" token) would match by accident
BROWSER = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"}
# Front-channel modes: they bend only the authorization response, never a signed-in request.
_AUTHORIZE_ONLY = frozenset({"deny", "iss_mismatch", "iss_missing", "implicit_tokens"})
_SLOW = ("timeout", "trickle")  # modes that hang: run with the short ``slow_timeout``
_FIELD_RE = re.compile(r'name="(?P<name>[^"]+)" value="(?P<value>[^"]*)"')


@dataclasses.dataclass(frozen=True, slots=True)
class ChaosFailure:
    """One broken invariant: where (route), under which failure mode, and what was seen."""

    route: str
    mode: str
    invariant: str
    detail: str

    def __str__(self) -> str:
        return f"{self.route} [mode {self.mode}]: {self.invariant}: {self.detail}"


@dataclasses.dataclass(slots=True)
class ChaosReport:
    """What a chaos run covered and every invariant it found broken (empty when all held)."""

    provider: str
    routes: list[str] = dataclasses.field(default_factory=list)
    modes: list[str] = dataclasses.field(default_factory=list)
    not_run: list[str] = dataclasses.field(default_factory=list)
    requests: int = 0
    failures: list[ChaosFailure] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def __str__(self) -> str:
        head = (
            f"chaos run against {self.provider!r}: {len(self.routes)} protected route(s) × "
            f"{len(self.modes)} failure mode(s), {self.requests} requests to the app, "
            f"{len(self.failures)} broken invariant(s)"
        )
        lines = [head, *(f"  - {failure}" for failure in self.failures)]
        lines += [f"  not run: {item}" for item in self.not_run]
        return "\n".join(lines)

    def raise_for_failures(self) -> None:
        """Raise ``AssertionError`` carrying the report when an invariant was broken."""
        if self.failures:
            raise AssertionError(str(self))


# ---- finding the protected routes ---------------------------------------------------------------


def _is_protected(handler: Any, method: str) -> bool:
    if isinstance(handler, type) and issubclass(handler, web.View):
        handler = getattr(handler, method.lower(), None)
    return bool(getattr(handler, MARKER, False))


def protected_routes(
    app: web.Application, path_params: Mapping[str, str] | None = None
) -> tuple[list[tuple[str, str]], list[str]]:
    """``@login_required`` GET/HEAD routes of ``app`` and its sub-apps as (method, path), and the
    dynamic ones left out because ``path_params`` has no value for one of their parts."""
    params = dict(path_params or {})
    found: list[tuple[str, str]] = []
    missing: list[str] = []
    pending = [app]
    while pending:
        current = pending.pop(0)
        for resource in current.router.resources():
            sub = getattr(resource, "_app", None)
            if isinstance(sub, web.Application):
                pending.append(sub)
                continue
            methods: dict[str, Any] = {route.method: route.handler for route in resource}
            if hdrs.METH_ANY in methods:  # add_view: one route for every method
                methods.setdefault("GET", methods[hdrs.METH_ANY])
            method = "GET" if "GET" in methods else "HEAD" if "HEAD" in methods else None
            if method is None or not _is_protected(methods[method], method):
                continue
            parts = re.findall(r"\{([^}:]+)", resource.canonical)
            if any(part not in params for part in parts):
                missing.append(f"{method} {resource.canonical}: no path_params for {parts}")
                continue
            url = resource.url_for(**{part: params[part] for part in parts})
            found.append((method, str(url)))
    return found, missing


def _parse_route(route: str | tuple[str, str]) -> tuple[str, str]:
    if isinstance(route, tuple):
        return route[0].upper(), route[1]
    method, _, path = route.strip().rpartition(" ")
    return (method.upper() or "GET"), path


# ---- what the run sees -----------------------------------------------------------------------


class _Capture(logging.Handler):
    """Every log record of the run, formatted (tracebacks included) while it is current."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.records: list[tuple[logging.LogRecord, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 - a record that cannot be formatted is still seen
            text = f"{record.name}: {record.msg!r} {record.args!r}"
        self.records.append((record, text))


@contextlib.contextmanager
def _capturing() -> Iterator[_Capture]:
    root = logging.getLogger()
    capture, level = _Capture(), root.level
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)  # DEBUG and INFO records must not leak either
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(level)


@dataclasses.dataclass(slots=True)
class _Seen:
    """One answer of the app: where it came from, its status, headers and body."""

    what: str
    status: int
    headers: CIMultiDict[str]
    body: str


class _Secrets:
    """The secrets the fake has handed out or received so far, by kind."""

    def __init__(self, fake: FakeProvider) -> None:
        self.fake = fake
        self.id_tokens: set[str] = set()

    def collect(self) -> dict[str, str]:
        fake = self.fake
        found: dict[str, str] = {fake.client_secret: "the client secret"}
        mint = getattr(fake, "_mint", None)
        for code in getattr(mint, "codes", {}):
            found[code] = "an authorization code"
        for sent in fake.token_requests:
            for field, kind in (
                ("code", "an authorization code"),
                ("code_verifier", "a PKCE code verifier"),
                ("refresh_token", "a refresh token"),
                ("client_secret", "the client secret"),
            ):
                if sent.get(field):
                    found[sent[field]] = kind
        for token in getattr(fake, "_access_tokens", {}):
            found[token] = "an access token"
        for token in getattr(fake, "_refresh_tokens", {}):
            found[token] = "a refresh token"
        for token in self.id_tokens:
            found[token] = "an ID token"
        return {value: kind for value, kind in found.items() if len(value) >= MIN_SECRET}

    @contextlib.contextmanager
    def recording_id_tokens(self) -> Iterator[None]:
        """Wrap the fake's ``_id_token`` (every ID token goes through it) to see them all."""
        original = getattr(self.fake, "_id_token", None)
        if original is None:
            yield
            return

        def record(*args: Any, **kwargs: Any) -> Any:
            token = original(*args, **kwargs)
            if isinstance(token, str):
                self.id_tokens.add(token)
            return token

        self.fake.__dict__["_id_token"] = record
        try:
            yield
        finally:
            self.fake.__dict__.pop("_id_token", None)


def _forms(secret: str) -> set[str]:
    return {secret, quote(secret, safe=""), quote(secret, safe="/:")}


# ---- the run ------------------------------------------------------------------------------------


class _Run:
    def __init__(
        self,
        client: TestClient[Any, Any],
        fake: FakeProvider,
        login: OAuthLogin,
        provider: str,
        slow_timeout: float,
        report: ChaosReport,
        capture: _Capture,
        targets: Sequence[tuple[str, str]],
    ) -> None:
        self.targets = targets
        self.client, self.fake, self.login, self.provider = client, fake, login, provider
        self.slow_timeout = slow_timeout
        self.report = report
        self.capture = capture
        self.secrets = _Secrets(fake)
        self.seen: list[_Seen] = []
        self.logged = 0  # capture.records already checked
        self.front_channel: list[str] = []  # callback URLs as the provider wrote them

    # ---- talking to the app ----

    async def app(self, method: str, path: str, **kwargs: Any) -> _Seen:
        """One request to the app, never following redirects; the answer is kept for checks."""
        self.report.requests += 1
        headers = {**BROWSER, **kwargs.pop("headers", {})}
        what = f"{method} {URL(path).path}"
        try:
            async with self.client.request(
                method, path, allow_redirects=False, headers=headers, **kwargs
            ) as resp:
                body = (await resp.read()).decode("utf-8", "replace")
                seen = _Seen(what, resp.status, CIMultiDict(resp.headers), body)
        except aiohttp.ClientError as exc:  # the handler broke the connection
            seen = _Seen(what, 500, CIMultiDict(), f"connection failed: {type(exc).__name__}")
        self.seen.append(seen)
        return seen

    async def sign_in(self) -> _Seen | None:
        """The real login through the fake; the app's callback answer, or None when the flow
        stopped before the callback (at the app's login route or at the provider)."""
        start = await self.app("GET", self.login.login_url(self.provider))
        location = start.headers.get(hdrs.LOCATION)
        if start.status != 302 or location is None:
            return None
        http = self.client.session
        async with http.get(location, allow_redirects=False) as answer:
            text = await answer.text()
            status, back = answer.status, answer.headers.get(hdrs.LOCATION)
        if status == 200 and 'name="interaction"' in text:  # a sign-in page: approve
            fields = {m["name"]: m["value"] for m in _FIELD_RE.finditer(text)}
            form = {"interaction": fields.get("interaction", ""), "action": "approve"}
            form["account"] = self.fake.default_account
            target = URL(location).with_query(None)
            async with http.post(target, data=form, allow_redirects=False) as answer:
                status, back = answer.status, answer.headers.get(hdrs.LOCATION)
        if status not in (302, 303) or back is None:
            return None
        self.front_channel.append(URL(back).raw_path_qs)
        return await self.app("GET", URL(back).path_qs)

    async def signed_in(self) -> str | None:
        """Who is signed in with the client's cookies, as the plugin sees it (through the app's
        own session storage) and as the app answers (a protected route that answers 2xx to an
        API request); ``None`` when nobody is."""
        jar = self.client.session.cookie_jar.filter_cookies(self.client.make_url("/"))
        cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())
        request = make_mocked_request("GET", "/", headers={"Cookie": cookie}, app=self.client.app)
        request[STORAGE_KEY] = self.login.storage
        user = await _current_user(request, self.login)
        if user is not None:
            return f"{user.provider}:{user.id} is signed in"
        for method, path in self.targets:
            probe = await self.app(method, path, headers={"Accept": "application/json"})
            if 200 <= probe.status < 300:
                return f"{method} {path} answered {probe.status} as to a signed-in user"
        return None

    def fresh_browser(self) -> None:
        self.client.session.cookie_jar.clear()

    @contextlib.contextmanager
    def failing(self, mode: str | None) -> Iterator[None]:
        """Switch ``mode`` on (hanging modes with the short provider timeout), then off."""
        if mode is None:
            yield
            return
        self.fake.fail(mode)
        try:
            if any(marker in mode for marker in _SLOW):
                with self._short_timeouts():
                    yield
            else:
                yield
        finally:
            self.fake.failures.discard(mode)

    @contextlib.contextmanager
    def _short_timeouts(self) -> Iterator[None]:
        # every view and provider call reads ``config.limits`` at use; the config is frozen so
        # that the app cannot change it, the chaos run bends it for the hanging modes only
        config = self.login.config
        limits = config.limits
        short = HttpLimits(
            connect_timeout=min(limits.connect_timeout, self.slow_timeout),
            total_timeout=min(limits.total_timeout, self.slow_timeout),
            max_body=limits.max_body,
        )
        object.__setattr__(config, "limits", short)
        try:
            yield
        finally:
            object.__setattr__(config, "limits", limits)

    # ---- checking ----

    def fail(self, route: str, mode: str, invariant: str, detail: str) -> None:
        failure = ChaosFailure(route, mode, invariant, detail)
        if failure not in self.report.failures:
            self.report.failures.append(failure)

    def check(self, route: str, mode: str) -> None:
        """Check every answer and log record since the last check."""
        secrets = self.secrets.collect()
        for seen in self.seen:
            self._check_answer(route, mode, seen, secrets)
        self.seen.clear()
        records = self.capture.records[self.logged :]
        self.logged = len(self.capture.records)
        for record, text in records:
            where = f"a log record of {record.name!r} ({record.levelname})"
            if record.levelno >= logging.ERROR and (
                record.exc_info or record.name in ("aiohttp.server", "aiohttp.web")
            ):
                first = text.splitlines()[0][:200]
                self.fail(route, mode, "no-unhandled-exception", f"{where}: {first}")
            if record.name == "aiohttp.access":  # what the provider put in the callback URL
                for url in self.front_channel:  # is its doing (RFC 9700 §4.5), not the app's
                    text = text.replace(url, "")
            for secret, kind in secrets.items():
                if any(form in text for form in _forms(secret)):
                    self.fail(route, mode, "no-secret-leak", f"{kind} in {where}")

    def _check_answer(self, route: str, mode: str, seen: _Seen, secrets: Mapping[str, str]) -> None:
        if seen.status == 500:
            self.fail(route, mode, "no-500", f"{seen.what} answered 500 ({seen.body[:120]!r})")
        for header in seen.headers.getall(hdrs.SET_COOKIE, []):
            size = len(header.encode())
            if size >= MAX_SET_COOKIE:
                name = header.partition("=")[0]
                detail = f"{seen.what} set cookie {name!r} of {size} bytes"
                self.fail(route, mode, "cookie-size", detail)
        location = seen.headers.get(hdrs.LOCATION, "")
        hint = URL(location).query.get("id_token_hint") if location else None
        for secret, kind in secrets.items():
            forms = _forms(secret)
            if any(form in seen.body for form in forms):
                self.fail(route, mode, "no-secret-leak", f"{kind} in the body of {seen.what}")
            for name, value in seen.headers.items():
                if name.lower() == "location" and kind == "an ID token" and secret == hint:
                    continue  # id_token_hint of RP-initiated logout (OIDC RP-Initiated §2)
                if any(form in value for form in forms):
                    self.fail(route, mode, "no-secret-leak", f"{kind} in the {name} of {seen.what}")

    # ---- scenarios ----

    async def login_scenario(self, mode: str | None) -> None:
        """Sign in with ``mode`` on; a login that failed must leave nobody signed in."""
        self.fresh_browser()
        with self.failing(mode):
            answer = await self.sign_in()
        if answer is None or answer.status != 303:
            who = await self.signed_in()
            if who is not None:
                how = "stopped before the callback" if answer is None else f"{answer.status}"
                detail = f"the login failed ({how}) but {who}"
                self.fail("login", mode or "none", "signed-out-after-failed-login", detail)
            if mode is None:
                status = "no callback" if answer is None else str(answer.status)
                detail = f"the login without a failure mode did not succeed ({status})"
                self.fail("login", "none", "baseline-login", detail)
        self.check("login", mode or "none")

    async def route_scenario(
        self, method: str, path: str, mode: str | None, *, expired: bool
    ) -> None:
        """Signed in, call the route with ``mode`` on (after the fake expired the access token,
        so the app's ``get_client`` calls have to refresh)."""
        route = f"{method} {path}"
        label = (mode or "none") + (", access token expired at the provider" if expired else "")
        self.fresh_browser()
        answer = await self.sign_in()
        if answer is None or answer.status != 303:
            self.check(route, label)
            self.fail(route, label, "baseline-login", "could not sign in before the request")
            return
        with self.failing(mode):
            if expired:
                self.fake.expire_access_tokens()
            await self.app(method, path)
        self.check(route, label)

    async def anonymous_scenario(self, method: str, path: str) -> None:
        route = f"{method} {path}"
        self.fresh_browser()
        await self.app(method, path)
        await self.app(method, path, headers={"Accept": "application/json"})
        self.check(route, "anonymous")

    async def logout_scenario(self, mode: str | None) -> None:
        """Signed in, POST the logout with ``mode`` on: local logout must always complete."""
        self.fresh_browser()
        answer = await self.sign_in()
        if answer is None or answer.status != 303:
            self.check("logout", mode or "none")
            return
        origin = str(self.client.make_url("/").origin())
        with self.failing(mode):
            await self.app("GET", self.login.logout_url())
            await self.app("POST", self.login.logout_url(), headers={"Origin": origin})
        who = await self.signed_in()
        if who is not None:
            detail = f"after POST logout {who}"
            self.fail("logout", mode or "none", "signed-out-after-logout", detail)
        self.check("logout", mode or "none")


def failure_modes_of(fake: FakeProvider) -> frozenset[str]:
    """The failure modes that change what ``fake`` answers (its personality's)."""
    for holder in (fake, getattr(fake, "_persona", None)):
        modes = getattr(holder, "failure_modes", None)
        if modes is not None:
            return frozenset(modes)
    return FAILURE_MODES


def _pick_provider(login: OAuthLogin, fake: FakeProvider, provider: str | None) -> str:
    if provider is not None:
        login.provider(provider)  # UnknownProvider when it is not there
        return provider
    matching = [p.name for p in login.providers.values() if p.client_id == fake.client_id]
    if len(matching) == 1:
        return matching[0]
    if len(login.providers) == 1:
        return next(iter(login.providers))
    raise ValueError(
        f"several providers could be the fake's ({sorted(matching or login.providers)}): "
        "pass provider=NAME"
    )


async def run_chaos(
    client: TestClient[Any, Any],
    fake: FakeProvider,
    *,
    provider: str | None = None,
    routes: Iterable[str | tuple[str, str]] | None = None,
    extra_routes: Iterable[str | tuple[str, str]] = (),
    path_params: Mapping[str, str] | None = None,
    modes: Iterable[str] | None = None,
    slow_timeout: float = 0.5,
) -> ChaosReport:
    """Run the app behind ``client`` against every failure mode of ``fake``; return the report.

    ``routes`` replaces the protected routes found in the router (``"/path"`` or
    ``"POST /path"``), ``extra_routes`` adds to them, ``path_params`` fills dynamic paths
    (``{"id": "1"}``), ``modes`` limits the failure modes (default: all the fake knows).
    Modes that make the provider hang run with ``slow_timeout`` seconds instead of the app's
    ``http_timeout``. The fake must be started and approve logins; it is left as it was found.
    """
    login = find_login(client.app)
    name = _pick_provider(login, fake, provider)
    known = failure_modes_of(fake)
    chosen = sorted(known if modes is None else set(modes))
    unknown = sorted(set(chosen) - known)
    if unknown:
        raise ValueError(f"unknown failure mode(s) {unknown}; see FAILURE_MODES")
    found, missing = protected_routes(client.app, path_params)
    targets = found if routes is None else [_parse_route(r) for r in routes]
    targets += [_parse_route(r) for r in extra_routes if _parse_route(r) not in targets]
    report = ChaosReport(provider=name, modes=chosen, not_run=list(missing))
    report.routes = [f"{method} {path}" for method, path in targets]
    saved = set(fake.failures)
    fake.failures.clear()
    try:
        with _capturing() as capture:
            run = _Run(client, fake, login, name, slow_timeout, report, capture, targets)
            with run.secrets.recording_id_tokens():
                await _scenarios(run, targets, chosen)
    finally:
        fake.failures.clear()
        fake.failures.update(saved)
        client.session.cookie_jar.clear()  # the run's sessions are not the test's
    return report


async def _scenarios(run: _Run, targets: Sequence[tuple[str, str]], modes: Sequence[str]) -> None:
    await run.login_scenario(None)
    for method, path in targets:
        await run.anonymous_scenario(method, path)
        await run.route_scenario(method, path, None, expired=False)
        await run.route_scenario(method, path, None, expired=True)
    for mode in modes:
        if mode.startswith("revoke"):
            await run.logout_scenario(mode)
            continue
        if not mode.startswith("refresh"):
            await run.login_scenario(mode)
        if mode in _AUTHORIZE_ONLY:
            continue
        for method, path in targets:
            await run.route_scenario(method, path, mode, expired=False)
            await run.route_scenario(method, path, mode, expired=True)
    await run.logout_scenario(None)


class ChaosRunner:
    """What the ``oauth_chaos`` fixture gives: ``await oauth_chaos(client, fake, ...)`` runs
    :func:`run_chaos` and fails the test with the report when an invariant broke."""

    def __init__(
        self, run: Callable[..., Awaitable[ChaosReport]] = run_chaos, **defaults: Any
    ) -> None:
        self._run = run
        self.defaults = defaults
        self.reports: list[ChaosReport] = []

    async def __call__(
        self, client: TestClient[Any, Any], fake: FakeProvider, **options: Any
    ) -> ChaosReport:
        report = await self._run(client, fake, **{**self.defaults, **options})
        self.reports.append(report)
        report.raise_for_failures()
        return report


try:  # the fixture needs pytest; everything above works without it
    import pytest
except ImportError:  # pragma: no cover - the kit without pytest: no fixture
    pass
else:

    @pytest.fixture
    def oauth_chaos() -> ChaosRunner:
        """``await oauth_chaos(client, fake, **run_chaos options)``: chaos-test your app."""
        return ChaosRunner()
