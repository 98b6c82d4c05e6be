"""Login transactions: state / PKCE verifier / nonce creation, storage, single use (SECURITY.md
2, 3, 4, 7, 8)."""

from __future__ import annotations

import base64
import re
import time
from typing import Any

import pytest

from aiohttp_oauth2_login import InvalidState
from aiohttp_oauth2_login._transaction import (
    MAX_LIVE,
    TRANSACTION_TTL,
    Transaction,
    check_transaction,
    code_challenge,
    load_transactions,
    new_transaction,
    pop_transaction,
    store_transaction,
)

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


def test_store_transaction_keeps_the_newest_five() -> None:
    live: list[Transaction] = []
    txs = [_tx(_state(i)) for i in range(MAX_LIVE + 3)]
    for tx in txs:
        live = store_transaction(live, tx)
        assert len(live) <= MAX_LIVE
    assert MAX_LIVE == 5
    assert live == txs[-5:]


def test_load_transactions_drops_expired_and_malformed() -> None:
    now = time.time()
    good = _tx(_state(1), created=int(now) - 10)
    expired = _tx(_state(2), created=int(now) - TRANSACTION_TTL - 1)
    future = _tx(_state(3), created=int(now) + 3600)
    malformed: list[Any] = [
        None,
        "tx",
        42,
        [],
        {},
        {**good.to_dict(), "s": 5},
        {**good.to_dict(), "v": None},
        {**good.to_dict(), "p": ["fake"]},
        {**good.to_dict(), "x": {}},
        {**good.to_dict(), "c": "123"},
        {**good.to_dict(), "c": 1.5},
        {**good.to_dict(), "n": 7},
        {k: v for k, v in good.to_dict().items() if k != "s"},
    ]
    raw = [expired.to_dict(), future.to_dict(), *malformed[:6], good.to_dict()]
    assert load_transactions(raw, now) == [good]
    for item in malformed:
        assert load_transactions([item], now) == []


@pytest.mark.parametrize("raw", [None, {}, "x", 5, {"s": "a"}, b"[]"])
def test_load_transactions_of_wrong_shape_is_empty(raw: object) -> None:
    assert load_transactions(raw, time.time()) == []


def test_load_transactions_bounds_the_work() -> None:
    now = time.time()
    raw = [_tx(_state(i)).to_dict() for i in range(1000)]
    assert len(load_transactions(raw, now)) <= MAX_LIVE * 2


def test_transaction_lifetime_is_ten_minutes() -> None:
    tx = _tx(created=1_000_000)
    assert TRANSACTION_TTL == 600
    assert not tx.expired(1_000_000 + 599)
    assert tx.expired(1_000_000 + 600)
    assert tx.expired(1_000_000 - 3600)


def test_pop_transaction_consumes_exactly_one() -> None:
    txs = [_tx(_state(i)) for i in range(3)]
    found, remaining = pop_transaction(txs, _state(1))
    assert found is txs[1]
    assert remaining == [txs[0], txs[2]]
    again, still = pop_transaction(remaining, _state(1))
    assert again is None
    assert still == remaining


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
def test_pop_transaction_refuses_malformed_state(state: str) -> None:
    txs = [_tx("0" * 43), _tx(_state(5))]
    found, remaining = pop_transaction(txs, state)
    assert found is None
    assert remaining == txs


def test_pop_transaction_unknown_state() -> None:
    txs = [_tx(_state(1))]
    found, remaining = pop_transaction(txs, _state(2))
    assert found is None
    assert remaining == txs
    assert pop_transaction([], _state(2)) == (None, [])


def test_pop_transaction_does_not_mutate_its_input() -> None:
    txs = [_tx(_state(1)), _tx(_state(2))]
    copy = list(txs)
    pop_transaction(txs, _state(1))
    assert txs == copy


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
