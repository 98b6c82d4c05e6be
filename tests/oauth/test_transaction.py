"""Login transactions: state / PKCE verifier / nonce creation, storage, single use (G2, G3,
G4)."""

from __future__ import annotations

import base64
import dataclasses
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from yarl import URL

from aiohttp_oauth2_login import InvalidState
from aiohttp_oauth2_login._oauth.transaction import (
    MAX_LIVE,
    TRANSACTION_TTL,
    Transaction,
    check_transaction,
    code_challenge,
    new_transaction,
    well_formed_state,
)
from aiohttp_oauth2_login._sessions.transactions import TransactionCookies

from ..support.app import MakeClient
from ..support.jwt import B64URL_43


def _tx(
    state: str = "s" * 43, *, provider: str = "fake", created: int | None = None
) -> Transaction:
    return Transaction(
        state=state,
        verifier="v" * 43,
        nonce="n" * 43,
        provider=provider,
        next="/",
        created=int(time.time()) if created is None else created,
    )


def _state(i: int) -> str:
    return f"{i:043d}"


@pytest.mark.parametrize("oidc", [True, False])
def test_new_transaction_is_256_bit_random(oidc: bool) -> None:
    tx = new_transaction(provider="fake", next_url="/after", oidc=oidc)
    assert B64URL_43.fullmatch(tx.state)
    assert len(base64.urlsafe_b64decode(tx.state + "=")) == 32
    assert B64URL_43.fullmatch(tx.verifier)
    assert tx.verifier != tx.state
    if oidc:
        assert tx.nonce is not None and B64URL_43.fullmatch(tx.nonce)
        assert tx.nonce not in (tx.state, tx.verifier)
    else:
        assert tx.nonce is None
    assert tx.provider == "fake" and tx.next == "/after"
    assert abs(tx.created - time.time()) <= 2
    assert not tx.expired(time.time())


def test_new_transactions_never_repeat() -> None:
    txs = [new_transaction(provider="fake", next_url="/", oidc=True) for _ in range(200)]
    values = [v for tx in txs for v in (tx.state, tx.verifier, tx.nonce)]
    assert len(set(values)) == len(values)


def test_state_carries_no_meaning() -> None:
    tx = new_transaction(provider="some-provider", next_url="/secret/next/path", oidc=True)
    decoded = base64.urlsafe_b64decode(tx.state + "=")
    assert b"some-provider" not in decoded and b"/secret" not in decoded
    assert "some-provider" not in tx.state and "secret" not in tx.state


def test_code_challenge_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert code_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_code_challenge_is_unpadded_base64url() -> None:
    challenge = code_challenge(new_transaction(provider="p", next_url="/", oidc=False).verifier)
    assert B64URL_43.fullmatch(challenge)


def test_round_trip_through_dict() -> None:
    tx = new_transaction(provider="fake", next_url="/x?y=1", oidc=True)
    assert Transaction.from_dict(tx.to_dict()) == tx
    plain = new_transaction(provider="gh", next_url="/", oidc=False)
    assert Transaction.from_dict(plain.to_dict()) == plain


def test_from_dict_refuses_malformed_entries() -> None:
    good = _tx(_state(1))
    assert Transaction.from_dict(good.to_dict()) == good
    malformed: list[Any] = [
        None,
        "tx",
        42,
        [],
        {},
        {**good.to_dict(), "s": 5},
        {**good.to_dict(), "s": "\ud800"},
        {**good.to_dict(), "v": None},
        {**good.to_dict(), "p": ["fake"]},
        {**good.to_dict(), "x": {}},
        {**good.to_dict(), "c": "123"},
        {**good.to_dict(), "n": 7},
        {**good.to_dict(), "n": "é"},
        {k: v for k, v in good.to_dict().items() if k != "s"},
    ]
    for item in malformed:
        assert Transaction.from_dict(item) is None, item


def test_transaction_lifetime_is_ten_minutes() -> None:
    tx = _tx(created=1_000_000)
    assert TRANSACTION_TTL == 600
    assert not tx.expired(1_000_000 + 599)
    assert tx.expired(1_000_000 + 600)
    assert tx.expired(1_000_000 - 3600)


@pytest.mark.parametrize(
    "state",
    [
        "",
        "x",
        "0" * 42,
        "0" * 44,
        "0" * 4096,
        "0" * 42 + "=",
        "0" * 42 + "/",
        "0" * 42 + "+",
        "0" * 42 + "é",
        "0" * 42 + "\n",
        "0" * 42 + "\x00",
        "０" * 43,
    ],
    ids=repr,
)
def test_malformed_states_are_refused(state: str) -> None:
    assert not well_formed_state(state)
    cookies = TransactionCookies([b"k" * 32], base_name="t", secure=False)
    assert cookies.take(make_mocked_request("GET", "/"), state) == (None, None)


def test_well_formed_state() -> None:
    assert well_formed_state(new_transaction(provider="p", next_url="/", oidc=False).state)


def _cookies(secure: bool = False) -> TransactionCookies:
    return TransactionCookies([b"k" * 32, b"o" * 32], base_name="aiohttp_oauth2", secure=secure)


def _browser(response: web.StreamResponse, jar: dict[str, str] | None = None) -> dict[str, str]:
    """What a browser holds after ``response`` (deletions applied)."""
    jar = dict(jar or {})
    for name, morsel in response.cookies.items():
        if morsel.value:
            jar[name] = morsel.value
        else:
            jar.pop(name, None)
    return jar


def _request(jar: dict[str, str]) -> web.Request:
    header = "; ".join(f"{k}={v}" for k, v in jar.items())
    return make_mocked_request("GET", "/", headers={"Cookie": header} if header else {})


def _pair(response: web.StreamResponse) -> tuple[str, str]:
    """(data cookie, key cookie) names of the one transaction ``response`` set."""
    (data,) = [n for n in response.cookies if "-tx-" in n]
    (key,) = [n for n in response.cookies if "-txk-" in n]
    return data, key


def test_transaction_cookie_round_trip_and_single_use() -> None:
    cookies = _cookies()
    tx = new_transaction(provider="fake", next_url="/x", oidc=True)
    response = web.Response()
    cookies.add(_request({}), response, tx, "/auth/")
    name, key = _pair(response)
    assert name.startswith("aiohttp_oauth2-tx-") and tx.state not in name
    assert key == cookies.key_name(name)
    for cookie in (name, key):
        morsel = response.cookies[cookie]
        assert morsel["path"] == "/auth/" and morsel["httponly"] and morsel["samesite"] == "Lax"
        assert int(morsel["max-age"]) == TRANSACTION_TTL
        for secret in (tx.state, tx.verifier, tx.nonce or "x"):
            assert secret not in morsel.value  # encrypted
    jar = _browser(response)
    found, cookie = cookies.take(_request(jar), tx.state)
    assert found == tx and cookie == name
    # the same cookie replayed (a concurrent second callback) is refused too
    assert cookies.take(_request(jar), tx.state) == (None, name)
    # consuming deletes both cookies
    done = web.Response()
    cookies.delete(done, name, "/auth/")
    assert _browser(done, jar) == {}


def test_secure_transaction_cookies_are_keyed_by_a_host_cookie() -> None:
    """Over https the data cookie (``__Secure-``, login path) opens only with its key cookie,
    a ``__Host-`` cookie (Secure, ``Path=/``, no ``Domain``) that no sibling host can set."""
    response = web.Response()
    tx = new_transaction(provider="fake", next_url="/", oidc=False)
    _cookies(secure=True).add(_request({}), response, tx, "/auth/")
    name, key = _pair(response)
    data, keyed = response.cookies[name], response.cookies[key]
    assert name.startswith("__Secure-aiohttp_oauth2-tx-") and data["secure"]
    assert data["path"] == "/auth/" and not data["domain"]
    assert key.startswith("__Host-aiohttp_oauth2-txk-") and keyed["secure"]
    assert keyed["path"] == "/" and not keyed["domain"]
    assert len(keyed.value) == 22  # 128 random bits: small on every request of the site


def test_a_data_cookie_without_its_key_cookie_is_refused() -> None:
    """What a sibling host can plant (the data cookie of a login it started and approved with
    its own account) is not a transaction without the key cookie only this host can set."""
    cookies = _cookies(secure=True)
    tx = new_transaction(provider="fake", next_url="/", oidc=False)
    response = web.Response()
    cookies.add(_request({}), response, tx, "/auth/")
    name, key = _pair(response)
    jar = _browser(response)
    planted = {name: jar[name]}
    assert cookies.take(_request(planted), tx.state)[0] is None
    # nor with another transaction's key (the victim's own pending login)
    victim = new_transaction(provider="fake", next_url="/", oidc=False)
    theirs = web.Response()
    cookies.add(_request({}), theirs, victim, "/auth/")
    _, victim_key = _pair(theirs)
    mixed = {name: jar[name], key: _browser(theirs)[victim_key]}
    assert cookies.take(_request(mixed), tx.state)[0] is None
    # the genuine pair opens (another process: this one has seen the state consumed)
    assert _cookies(secure=True).take(_request(jar), tx.state)[0] == tx


def test_at_most_five_transaction_cookies_the_oldest_goes() -> None:
    cookies = _cookies()
    jar: dict[str, str] = {}
    txs = []
    for _ in range(MAX_LIVE + 1):
        tx = new_transaction(provider="fake", next_url="/", oidc=False)
        txs.append(tx)
        response = web.Response()
        cookies.add(_request(jar), response, tx, "/auth/")
        jar = _browser(response, jar)
        time.sleep(0.002)  # creation times are kept to the millisecond
    assert len(jar) == 2 * MAX_LIVE
    oldest = cookies.name(txs[0].state)
    assert oldest not in jar and cookies.key_name(oldest) not in jar
    assert all(cookies.name(tx.state) in jar for tx in txs[1:])


@pytest.mark.parametrize(
    "change", ["flip", "truncate", "swap", "other key", "expired", "flip key", "no key"]
)
def test_bad_transaction_cookies_are_unknown_states(change: str) -> None:
    cookies = _cookies()
    tx = new_transaction(provider="fake", next_url="/", oidc=False)
    if change == "expired":
        tx = dataclasses.replace(tx, created=time.time() - TRANSACTION_TTL - 1)
    response = web.Response()
    source = (
        _cookies()
        if change != "other key"
        else TransactionCookies([b"z" * 32], base_name="aiohttp_oauth2", secure=False)
    )
    source.add(_request({}), response, tx, "/auth/")
    jar = _browser(response)
    name, key = _pair(response)
    value = jar[name]
    if change == "flip":
        jar[name] = value[:20] + ("A" if value[20] != "A" else "B") + value[21:]
    elif change == "truncate":
        jar[name] = value[:-10]
    elif change == "swap":  # a valid pair moved under another transaction's names
        other = cookies.name(new_transaction(provider="fake", next_url="/", oidc=False).state)
        jar = {other: value, cookies.key_name(other): jar[key]}
    elif change == "flip key":
        jar[key] = ("A" if jar[key][0] != "A" else "B") + jar[key][1:]
    elif change == "no key":
        del jar[key]
    found, _ = cookies.take(_request(jar), tx.state)
    assert found is None


def test_check_transaction() -> None:
    tx = _tx(provider="fake")
    assert check_transaction(tx, "fake") is tx
    with pytest.raises(InvalidState):
        check_transaction(None, "fake")
    with pytest.raises(InvalidState) as info:
        check_transaction(tx, "other")
    assert info.value.status == 400
    with pytest.raises(InvalidState):
        check_transaction(tx, "fak")
    with pytest.raises(InvalidState):
        check_transaction(tx, "fake2")


def test_live_transaction_cookies_stay_within_a_byte_budget() -> None:
    """Long ``next`` values (up to 2 KB each) never grow the login routes' ``Cookie`` header
    past a few KiB: the oldest transactions are dropped first, the newest always stays."""
    cookies = _cookies(secure=True)
    jar: dict[str, str] = {}
    txs = []
    for _ in range(MAX_LIVE):
        tx = new_transaction(provider="fake", next_url="/" + "a" * 1900, oidc=True)
        txs.append(tx)
        response = web.Response()
        cookies.add(_request(jar), response, tx, "/auth/")
        jar = _browser(response, jar)
        time.sleep(0.002)
    data = {name: value for name, value in jar.items() if "-tx-" in name}
    assert sum(len(name) + len(value) + 3 for name, value in data.items()) <= 4096
    assert cookies.name(txs[-1].state) in data
    assert len(data) < MAX_LIVE  # long ones crowd each other out, oldest first
    assert set(jar) == set(data) | {cookies.key_name(name) for name in data}


class HttpsBrowser:
    """A browser's cookie jar for an https app reached over the test server's plain http
    (aiohttp's jar would withhold the ``Secure`` cookies): names, values and paths."""

    def __init__(self) -> None:
        self.jar: dict[str, tuple[str, str]] = {}

    def keep(self, resp: Any) -> None:
        for name, morsel in resp.cookies.items():
            if morsel.value:
                self.jar[name] = (morsel.value, morsel["path"])
            else:
                self.jar.pop(name, None)

    def cookie(self, path: str) -> str:
        return "; ".join(f"{n}={v}" for n, (v, at) in self.jar.items() if path.startswith(at))


async def test_long_next_logins_cannot_make_the_site_unreachable(make_client: MakeClient) -> None:
    """Five abandoned logins with 2 KB ``next`` values (a cross-site page can start them with
    top-level navigations): every route, the login routes included, still answers, and a new
    login still completes."""
    client = await make_client(public_url="https://app.example")
    browser = HttpsBrowser()

    async def get(path: str) -> Any:
        resp = await client.get(
            path, headers={"Cookie": browser.cookie(URL(path).path)}, allow_redirects=False
        )
        browser.keep(resp)
        return resp

    for number in range(MAX_LIVE):
        assert (await get(f"/auth/login/fake?next=/{number}{'a' * 1900}")).status == 302
    assert len(browser.cookie("/")) < 512  # the rest of the site sees only the key cookies
    assert len(browser.cookie("/auth/")) < 4096 + 512
    for path in ("/", "/private", "/auth/login", "/auth/logout"):
        assert (await get(path)).status in (200, 401), path
    start = await get("/auth/login/fake?next=/after")
    answer = await client.session.get(start.headers["Location"], allow_redirects=False)
    done = await get(URL(answer.headers["Location"]).path_qs)
    assert done.status == 303 and done.headers["Location"] == "/after"
