"""``CookieStorage``: AES-GCM cookie sessions, key rotation, flags and the size budget
(G9)."""

from __future__ import annotations

import base64
import json
import re
import secrets
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aiohttp_session import Session

from aiohttp_oauth2_login import ConfigurationError, CookieStorage, generate_key
from aiohttp_oauth2_login._sessions.cookie_storage import CHUNK_VALUE, MAX_COOKIE_BYTES, parse_keys

from ..support.app import COOKIE as NAME
from ..support.app import KEY, OLD_KEY

B64URL = re.compile(r"[A-Za-z0-9_-]+")


def _request(cookie: str | None = None, name: str = NAME) -> web.Request:
    headers = {} if cookie is None else {"Cookie": f"{name}={cookie}"}
    return make_mocked_request("GET", "/", headers=headers)


async def _save(storage: CookieStorage, data: dict[str, Any]) -> web.Response:
    session = await storage.new_session()
    session.update(data)
    response = web.Response()
    await storage.save_session(_request(), response, session)
    return response


async def _cookie(storage: CookieStorage, data: dict[str, Any]) -> str:
    response = await _save(storage, data)
    return response.cookies[storage.cookie_name].value


async def _load(storage: CookieStorage, value: str, name: str | None = None) -> Session:
    return await storage.load_session(_request(value, name or storage.cookie_name))


def _is_anonymous(session: Session) -> bool:
    return session.new and session.empty


def _reseal(value: str, change: Any) -> str:
    raw = bytearray(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    change(raw)
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


# ---- round trip and flags -------------------------------------------------------------------


async def test_round_trip() -> None:
    storage = CookieStorage(KEY, max_age=3600)
    data = {"oauth": {"u": {"p": "fake", "i": "alice"}, "li": 1}, "app": [1, "ü", None]}
    value = await _cookie(storage, data)
    session = await _load(storage, value)
    assert not session.new
    assert dict(session) == data
    assert not session._changed  # nothing to re-save with the current key


async def test_value_is_unpadded_base64url_and_never_quoted() -> None:
    storage = CookieStorage(KEY)
    for data in ({"a": 1}, {"b": "x" * 100}, {"c": '"; ,\\'}, {"d": "é" * 7}):
        response = await _save(storage, data)
        morsel = response.cookies[NAME]
        assert B64URL.fullmatch(morsel.value)
        assert "=" not in morsel.value
        assert morsel.coded_value == morsel.value
        assert dict(await _load(storage, morsel.value)) == data


async def test_encryption_is_randomised() -> None:
    storage = CookieStorage(KEY)
    assert await _cookie(storage, {"a": 1}) != await _cookie(storage, {"a": 1})
    value = await _cookie(storage, {"secret": "visible?"})
    assert b"visible" not in base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


async def test_cookie_flags() -> None:
    storage = CookieStorage(KEY, max_age=7 * 24 * 3600)
    header = (await _save(storage, {"a": 1})).cookies[NAME].OutputString()
    parts = [p.strip() for p in header.split(";")]
    assert "HttpOnly" in parts
    assert "SameSite=Lax" in parts
    assert "Path=/" in parts
    assert f"Max-Age={7 * 24 * 3600}" in parts
    assert not any(p.lower().startswith("domain") for p in parts)
    assert "Secure" not in parts


async def test_secure_cookie_gets_host_prefix_and_secure() -> None:
    storage = CookieStorage(KEY, secure=True, max_age=60)
    assert storage.cookie_name == "__Host-" + NAME
    header = (await _save(storage, {"a": 1})).cookies["__Host-" + NAME].OutputString()
    parts = [p.strip() for p in header.split(";")]
    assert header.startswith("__Host-" + NAME + "=")
    assert {"Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=60"} <= set(parts)
    assert not any(p.lower().startswith("domain") for p in parts)


def test_host_prefix_is_not_doubled() -> None:
    assert CookieStorage(KEY, cookie_name="__Host-x", secure=True).cookie_name == "__Host-x"


@pytest.mark.parametrize("secure", [False, True])
async def test_clearing_cookie_keeps_the_attributes_a_browser_needs(secure: bool) -> None:
    """A browser ignores a ``__Host-`` Set-Cookie without ``Secure``, also when it deletes:
    the old, still valid session cookie would survive logout."""
    storage = CookieStorage(KEY, secure=secure, max_age=60)
    session = await _load(storage, await _cookie(storage, {"a": 1}))
    session.invalidate()
    response = web.Response()
    await storage.save_session(_request(), response, session)
    morsel = response.cookies[storage.cookie_name]
    parts = [p.strip() for p in morsel.OutputString().split(";")]
    assert morsel.value == ""
    assert "Max-Age=0" in parts
    assert "Path=/" in parts
    assert not any(p.lower().startswith("domain") for p in parts)
    assert ("Secure" in parts) is secure


# ---- anything unreadable is an anonymous session ----------------------------------------------


@pytest.mark.parametrize("position", [0, 1, 6, 12, 13, 20, -17, -2, -1])
@pytest.mark.parametrize("bit", [0x01, 0x80])
async def test_tampered_cookie_is_anonymous(position: int, bit: int) -> None:
    storage = CookieStorage(KEY)
    value = await _cookie(storage, {"oauth": {"u": {"p": "fake", "i": "alice"}}})

    def flip(raw: bytearray) -> None:
        raw[position] ^= bit

    tampered = _reseal(value, flip)
    assert tampered != value
    assert _is_anonymous(await _load(storage, tampered))


@pytest.mark.parametrize("keep", [0, 1, 10, 28, 29, 40, -1, -4, -16])
async def test_truncated_cookie_is_anonymous(keep: int) -> None:
    storage = CookieStorage(KEY)
    value = await _cookie(storage, {"a": "b" * 50})
    assert _is_anonymous(await _load(storage, value[:keep]))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "!!!!",
        "A",
        "AAAA",
        "A" * 43,
        "====",
        "%41%41",
        "null",
        "{}",
        "e30",
        "A" * 10_000,
        "A" * 100_000,
        "AQ" + "A" * 60,
    ],
    ids=lambda v: repr(v[:20]) + f"[{len(v)}]",
)
async def test_garbage_cookie_is_anonymous(value: str) -> None:
    storage = CookieStorage(KEY)
    assert _is_anonymous(await _load(storage, value))


@pytest.mark.parametrize("value", ["\x00", "é" * 10, "A\nB", "A" * 8193, "a b", '"x"'], ids=repr)
def test_decrypt_of_garbage_is_none(value: str) -> None:
    assert CookieStorage(KEY).decrypt(value) is None


async def test_huge_valid_cookie_is_not_even_decrypted() -> None:
    storage = CookieStorage(KEY)
    value = storage.encrypt({"created": 1, "session": {"x": secrets.token_urlsafe(9000)}})
    assert len(value) > 8192
    assert storage.decrypt(value) is None
    assert _is_anonymous(await _load(storage, value))


@pytest.mark.parametrize("version", [b"\x00", b"\x02", b"\xff"])
async def test_wrong_version_byte_is_anonymous(version: bytes) -> None:
    storage = CookieStorage(KEY)
    value = await _cookie(storage, {"a": 1})

    def set_version(raw: bytearray) -> None:
        raw[0:1] = version

    assert _is_anonymous(await _load(storage, _reseal(value, set_version)))


async def test_cookie_of_another_key_is_anonymous() -> None:
    value = await _cookie(CookieStorage(generate_key()), {"a": 1})
    assert _is_anonymous(await _load(CookieStorage(KEY), value))
    assert _is_anonymous(await _load(CookieStorage([KEY, OLD_KEY]), value))


@pytest.mark.parametrize(
    "payload",
    [
        [1, 2],
        [],
        "a string",
        42,
        None,
        True,
        {},
        {"created": "x", "session": {"a": 1}},
        {"created": None, "session": {"a": 1}},
        {"created": 1.5, "session": {"a": 1}},
        {"session": {"a": 1}},
        {"session": []},
        {"created": 1, "session": []},
        {"created": 1, "session": "x"},
        {"created": 1, "session": None},
        {"created": 1},
    ],
    ids=repr,
)
async def test_wrong_shape_json_is_anonymous(payload: Any) -> None:
    storage = CookieStorage(KEY)
    value = storage.encrypt(payload)
    assert _is_anonymous(await _load(storage, value))


@pytest.mark.parametrize("plain", [b"not json", b"\xff\xfe", b"", b"[" * 100_000, b"[" * 4000])
async def test_non_json_plaintext_is_anonymous(plain: bytes) -> None:
    storage = CookieStorage(KEY)
    value = storage._sealer.seal(plain, NAME.encode())
    assert _is_anonymous(await _load(storage, value))


async def test_cookie_is_bound_to_its_name() -> None:
    value = await _cookie(CookieStorage(KEY, cookie_name="one"), {"a": 1})
    other = CookieStorage(KEY, cookie_name="two")
    assert _is_anonymous(await _load(other, value))
    assert not _is_anonymous(await _load(CookieStorage(KEY, cookie_name="one"), value))
    plain = await _cookie(CookieStorage(KEY), {"a": 1})
    assert _is_anonymous(await _load(CookieStorage(KEY, secure=True), plain))


async def test_cookie_under_another_name_is_not_read() -> None:
    storage = CookieStorage(KEY)
    value = await _cookie(storage, {"a": 1})
    assert _is_anonymous(await storage.load_session(_request(value, name="something_else")))


# ---- key rotation ---------------------------------------------------------------------------


async def test_key_rotation_reencrypts_with_the_first_key() -> None:
    new_key, old_key = generate_key(), generate_key()
    value = await _cookie(CookieStorage(old_key), {"oauth": {"x": 1}})
    rotated = CookieStorage([new_key, old_key])
    session = await _load(rotated, value)
    assert not session.new
    assert dict(session) == {"oauth": {"x": 1}}
    assert session._changed  # the middleware will save it again, with the new key
    response = web.Response()
    await rotated.save_session(_request(), response, session)
    resaved = response.cookies[NAME].value
    assert resaved and resaved != value
    reopened = await _load(CookieStorage(new_key), resaved)
    assert dict(reopened) == {"oauth": {"x": 1}}
    assert _is_anonymous(await _load(CookieStorage(old_key), resaved))


async def test_current_key_cookie_is_not_marked_changed() -> None:
    rotated = CookieStorage([KEY, OLD_KEY])
    session = await _load(rotated, await _cookie(rotated, {"a": 1}))
    assert not session.new and not session._changed


@pytest.mark.parametrize("as_bytes", [False, True])
def test_parse_keys_accepts_generated_keys(as_bytes: bool) -> None:
    key = generate_key()
    raw = base64.urlsafe_b64decode(key)
    assert len(key) == 44 and len(raw) == 32
    given: Any = key.encode() if as_bytes else key
    assert parse_keys(given) == [raw]
    assert parse_keys([given, OLD_KEY]) == [raw, base64.urlsafe_b64decode(OLD_KEY)]
    assert parse_keys((given,)) == [raw]


def test_generate_key_is_random() -> None:
    assert len({generate_key() for _ in range(50)}) == 50


def test_fernet_style_key_is_accepted() -> None:
    key = base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode()  # uses '-' and '_'
    assert "-" in key or "_" in key
    CookieStorage(key)


@pytest.mark.parametrize(
    "secret_key",
    [
        base64.urlsafe_b64encode(b"x" * 16).decode(),
        base64.urlsafe_b64encode(b"x" * 31).decode(),
        base64.urlsafe_b64encode(b"x" * 33).decode(),
        base64.urlsafe_b64encode(b"x" * 48).decode(),
        "not base64 at all!",
        "x" * 44,
        "",
        b"",
        b"\x00" * 32,
        "é" * 44,
        [],
        (),
        [KEY, "short"],
        ["short", KEY],
        [KEY, None],
        [KEY, 42],
    ],
    ids=repr,
)
def test_malformed_keys_refuse_to_start(secret_key: Any) -> None:
    with pytest.raises(ConfigurationError, match="keygen") as info:
        CookieStorage(secret_key)
    assert isinstance(info.value, ValueError)
    with pytest.raises(ConfigurationError, match="keygen"):
        parse_keys(secret_key)


def test_key_error_names_the_bad_index() -> None:
    with pytest.raises(ConfigurationError, match=r"secret_key\[1\]"):
        parse_keys([KEY, "short"])


def test_repr_shows_no_key_material() -> None:
    text = repr(CookieStorage([KEY, OLD_KEY]))
    assert KEY not in text and OLD_KEY not in text
    assert "keys=2" in text


# ---- the 4096-byte budget -------------------------------------------------------------------


async def test_set_cookie_size_reports_the_header_size() -> None:
    storage = CookieStorage(KEY, max_age=3600)
    session = await storage.new_session()
    session["a"] = "x" * 100
    size = storage.set_cookie_size(session)
    response = web.Response()
    await storage.save_session(_request(), response, session)
    assert size == len(response.cookies[NAME].OutputString())
    session["b"] = "y" * 1000
    assert storage.set_cookie_size(session) > size + 1000


@pytest.mark.parametrize("secure", [False, True])
async def test_oversized_session_is_never_sent(secure: bool) -> None:
    storage = CookieStorage(KEY, secure=secure, max_age=3600)
    session = await storage.new_session()
    session["big"] = secrets.token_urlsafe(CHUNK_VALUE * storage.max_chunks)
    assert not storage.fits(session)
    assert storage.set_cookie_size(session) > MAX_COOKIE_BYTES
    response = web.Response()
    await storage.save_session(_request(), response, session)
    morsel = response.cookies[storage.cookie_name]
    assert morsel.value == ""
    assert f"{storage.cookie_name}.1" not in response.cookies
    await response.prepare(make_mocked_request("GET", "/"))
    for header in response.headers.getall("Set-Cookie"):
        assert len(header) <= MAX_COOKIE_BYTES


async def test_session_just_under_the_budget_is_one_cookie() -> None:
    storage = CookieStorage(KEY, max_age=3600)
    session = await storage.new_session()
    session["v"] = ""
    base = len(storage.encrypt(dict(storage._get_session_data(session))))
    session["v"] = "x" * ((CHUNK_VALUE - base) * 3 // 4 - 4)
    assert storage.set_cookie_size(session) <= MAX_COOKIE_BYTES
    response = web.Response()
    await storage.save_session(_request(), response, session)
    assert list(response.cookies) == [NAME]
    value = response.cookies[NAME].value
    assert json.dumps(dict(await _load(storage, value))) == json.dumps(dict(session))


def _jar_request(response: web.StreamResponse, extra: dict[str, str] | None = None) -> web.Request:
    """A follow-up request carrying what ``response`` set (and ``extra`` cookies)."""
    cookies = {name: m.value for name, m in response.cookies.items() if m.value}
    cookies.update(extra or {})
    header = "; ".join(f"{k}={v}" for k, v in cookies.items())
    return make_mocked_request("GET", "/", headers={"Cookie": header} if header else {})


async def _big_session(storage: CookieStorage, size: int = 3000) -> Session:
    session = await storage.new_session()
    session["big"] = secrets.token_urlsafe(size)
    return session


async def _saved(storage: CookieStorage, session: Session, request: web.Request | None = None):  # type: ignore[no-untyped-def]
    response = web.Response()
    await storage.save_session(request or _request(), response, session)
    return response


@pytest.mark.parametrize("secure", [False, True])
async def test_large_session_is_split_over_numbered_cookies(secure: bool) -> None:
    storage = CookieStorage(KEY, secure=secure, max_age=3600)
    session = await _big_session(storage)
    assert storage.fits(session)
    response = await _saved(storage, session)
    name = storage.cookie_name
    assert sorted(response.cookies) == [name, f"{name}.1"]
    assert response.cookies[name].value.startswith("2~")
    for morsel in response.cookies.values():
        assert len(morsel.OutputString()) <= MAX_COOKIE_BYTES
        assert morsel["httponly"] and morsel["samesite"] == "Lax" and morsel["path"] == "/"
        assert bool(morsel["secure"]) is secure
    loaded = await storage.load_session(_jar_request(response))
    assert loaded["big"] == session["big"]


async def test_tampering_with_one_chunk_is_anonymous() -> None:
    storage = CookieStorage(KEY, max_age=3600)
    response = await _saved(storage, await _big_session(storage))
    part = response.cookies[f"{NAME}.1"].value
    flipped = part[:10] + ("A" if part[10] != "A" else "B") + part[11:]
    loaded = await storage.load_session(_jar_request(response, {f"{NAME}.1": flipped}))
    assert _is_anonymous(loaded)


async def test_a_missing_chunk_is_anonymous() -> None:
    storage = CookieStorage(KEY, max_age=3600)
    response = await _saved(storage, await _big_session(storage))
    header = f"{NAME}={response.cookies[NAME].value}"
    request = make_mocked_request("GET", "/", headers={"Cookie": header})
    assert _is_anonymous(await storage.load_session(request))


@pytest.mark.parametrize("count", ["1", "3", "99", "x", ""])
async def test_a_bad_chunk_count_is_anonymous(count: str) -> None:
    storage = CookieStorage(KEY, max_age=3600)
    response = await _saved(storage, await _big_session(storage))
    first = response.cookies[NAME].value.split("~", 1)[1]
    request = _jar_request(response, {NAME: f"{count}~{first}"})
    assert _is_anonymous(await storage.load_session(request))


async def test_stale_chunks_are_deleted_when_the_session_shrinks() -> None:
    storage = CookieStorage(KEY, max_age=3600)
    big = await _saved(storage, await _big_session(storage))
    small = await storage.new_session()
    small["x"] = 1
    response = await _saved(storage, small, _jar_request(big))
    assert response.cookies[NAME].value and "~" not in response.cookies[NAME].value
    stale = response.cookies[f"{NAME}.1"]
    assert stale.value == "" and str(stale["max-age"]) == "0"
    # a browser drops the stale chunk; the single cookie alone loads
    request = make_mocked_request(
        "GET", "/", headers={"Cookie": f"{NAME}={response.cookies[NAME].value}"}
    )
    assert (await storage.load_session(request))["x"] == 1


async def test_logout_deletes_every_chunk() -> None:
    storage = CookieStorage(KEY, max_age=3600)
    big = await _saved(storage, await _big_session(storage))
    session = await storage.load_session(_jar_request(big))
    session.invalidate()
    response = await _saved(storage, session, _jar_request(big))
    assert response.cookies[NAME].value == "" and response.cookies[f"{NAME}.1"].value == ""
