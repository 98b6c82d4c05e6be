"""Login transactions: state / PKCE verifier / nonce creation, storage, single use (SECURITY.md
2, 3, 4, 7, 8)."""

from __future__ import annotations

import base64
import dataclasses
import re
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

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

URLSAFE_43 = re.compile(r"[A-Za-z0-9_-]{43}")


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
    assert URLSAFE_43.fullmatch(tx.state)
    assert len(base64.urlsafe_b64decode(tx.state + "=")) == 32
    assert URLSAFE_43.fullmatch(tx.verifier)
    assert tx.verifier != tx.state
    if oidc:
        assert tx.nonce is not None and URLSAFE_43.fullmatch(tx.nonce)
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
    assert URLSAFE_43.fullmatch(challenge)


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


def test_transaction_cookie_round_trip_and_single_use() -> None:
    cookies = _cookies()
    tx = new_transaction(provider="fake", next_url="/x", oidc=True)
    response = web.Response()
    cookies.add(_request({}), response, tx, "/auth/")
    (name,) = response.cookies
    morsel = response.cookies[name]
    assert name.startswith("aiohttp_oauth2-tx-") and tx.state not in name
    assert morsel["path"] == "/auth/" and morsel["httponly"] and morsel["samesite"] == "Lax"
    assert int(morsel["max-age"]) == TRANSACTION_TTL
    for secret in (tx.state, tx.verifier, tx.nonce or "x"):
        assert secret not in morsel.value  # encrypted
    jar = _browser(response)
    found, cookie = cookies.take(_request(jar), tx.state)
    assert found == tx and cookie == name
    # the same cookie replayed (a concurrent second callback) is refused too
    assert cookies.take(_request(jar), tx.state) == (None, name)


def test_secure_transaction_cookies_use_the_host_prefix() -> None:
    """``__Host-`` (not ``__Secure-``, which a sibling host may set with ``Domain=``): Secure,
    ``Path=/`` as the prefix requires, no ``Domain``."""
    response = web.Response()
    tx = new_transaction(provider="fake", next_url="/", oidc=False)
    _cookies(secure=True).add(_request({}), response, tx, "/auth/")
    (name,) = response.cookies
    morsel = response.cookies[name]
    assert name.startswith("__Host-aiohttp_oauth2-tx-") and morsel["secure"]
    assert morsel["path"] == "/" and not morsel["domain"]


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
    assert len(jar) == MAX_LIVE
    assert cookies.name(txs[0].state) not in jar
    assert all(cookies.name(tx.state) in jar for tx in txs[1:])


@pytest.mark.parametrize("change", ["flip", "truncate", "swap", "other key", "expired"])
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
    (name,) = jar
    value = jar[name]
    if change == "flip":
        jar[name] = value[:20] + ("A" if value[20] != "A" else "B") + value[21:]
    elif change == "truncate":
        jar[name] = value[:-10]
    elif change == "swap":  # a valid value moved under another transaction's name
        other = cookies.name(new_transaction(provider="fake", next_url="/", oidc=False).state)
        jar = {other: value}
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
