"""URL helpers: ``safe_next`` (open redirects), ``same_origin`` (CSRF), redirect URIs (L6, G19;
RFC 6454 §7), unit-tested and through the app."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict
from yarl import URL

from aiohttp_oauth2_login._urls import external_path, external_url, safe_next, same_origin
from aiohttp_oauth2_login.config import parse_public_url

from .support.app import MakeClient

DEFAULT = "/home"

ACCEPTED = [
    "/",
    "/a",
    "/a?b=c#d",
    "/a/b%2Fc",
    "/a/b/c.html",
    "/search?q=x&page=2",
    "/a?next=//not-a-host-here",
    "/~user/a-b_c.d",
]

REFUSED: list[Any] = [
    "//evil.com",
    "///evil.com",
    "/\\evil.com",
    "\\\\evil",
    "\\/evil.com",
    "/a\\b",
    "https://evil.com",
    "https://evil.com/a",
    "http:evil",
    "http:/evil",
    "javascript:alert(1)",
    "JavaScript:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "evil.com",
    "a/b",
    "?x=1",
    "#frag",
    "/%0d%0aSet-Cookie:%20x=1",
    "/%0aLocation:%20https://evil.com",
    "/%00",
    "/a\r\nSet-Cookie: x=1",
    "/a\nb",
    "/a\rb",
    "/a\tb",
    "/\t/evil.com",
    "/\x00",
    "/a\x7f",
    "/a\x1b[31m",
    "／／evil.com",
    "/／evil.com",
    "\uff0f\uff0fevil.com",
    "/ /evil",
    " /a",
    "/a ",
    "/é",
    "/\u2028",
    "",
    None,
    b"/a",
    ["/a"],
    42,
    "/" + "a" * 3000,
]


@pytest.mark.parametrize("value", ACCEPTED)
def test_safe_next_accepts_same_origin_paths(value: str) -> None:
    assert safe_next(value, DEFAULT) == value


@pytest.mark.parametrize("value", REFUSED, ids=repr)
def test_safe_next_refuses_everything_else(value: object) -> None:
    assert safe_next(value, DEFAULT) == DEFAULT


def _request(headers: list[tuple[str, str]], host: str = "app.example.com") -> Any:
    return make_mocked_request(
        "POST", "/auth/logout", headers=CIMultiDict([("Host", host), *headers])
    )


SAME_ORIGIN_CASES = [
    ("origin equal", [("Origin", "http://app.example.com")], None, True),
    ("origin other site", [("Origin", "http://evil.example")], None, False),
    ("origin other port", [("Origin", "http://app.example.com:8080")], None, False),
    ("origin other scheme", [("Origin", "https://app.example.com")], None, False),
    ("origin null", [("Origin", "null")], None, False),
    (
        "origin null, fetch same-origin",
        [("Origin", "null"), ("Sec-Fetch-Site", "same-origin")],
        None,
        True,
    ),
    (
        "origin null, fetch cross-site",
        [("Origin", "null"), ("Sec-Fetch-Site", "cross-site")],
        None,
        False,
    ),
    (
        "two fetch sites",
        [("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Site", "cross-site")],
        None,
        False,
    ),
    ("origin empty", [("Origin", "")], None, False),
    (
        "two origins",
        [("Origin", "http://app.example.com"), ("Origin", "http://app.example.com")],
        None,
        False,
    ),
    (
        "origin wins over fetch site",
        [("Origin", "http://evil.example"), ("Sec-Fetch-Site", "same-origin")],
        None,
        False,
    ),
    ("fetch same-origin", [("Sec-Fetch-Site", "same-origin")], None, True),
    ("fetch same-site", [("Sec-Fetch-Site", "same-site")], None, False),
    ("fetch cross-site", [("Sec-Fetch-Site", "cross-site")], None, False),
    ("fetch none", [("Sec-Fetch-Site", "none")], None, False),
    ("neither header", [], None, False),
    ("referer only", [("Referer", "http://app.example.com/x")], None, False),
    (
        "public url origin",
        [("Origin", "https://public.example")],
        "https://public.example/app",
        True,
    ),
    (
        "public url: request host is not the origin",
        [("Origin", "http://app.example.com")],
        "https://public.example",
        False,
    ),
]


@pytest.mark.parametrize(
    ("headers", "public_url", "expected"),
    [case[1:] for case in SAME_ORIGIN_CASES],
    ids=[case[0] for case in SAME_ORIGIN_CASES],
)
def test_same_origin(
    headers: list[tuple[str, str]], public_url: str | None, expected: bool
) -> None:
    assert same_origin(parse_public_url(public_url), _request(headers)) is expected


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [
        ("https://app.example.com", "https://app.example.com/auth/callback/x"),
        ("https://app.example.com/", "https://app.example.com/auth/callback/x"),
        ("https://app.example.com/app", "https://app.example.com/app/auth/callback/x"),
        ("https://app.example.com/app/", "https://app.example.com/app/auth/callback/x"),
        ("http://localhost:8080", "http://localhost:8080/auth/callback/x"),
    ],
)
def test_external_url_with_public_url_ignores_the_request(public_url: str, expected: str) -> None:
    request = make_mocked_request(
        "GET",
        "/auth/login/x",
        headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example"},
    )
    url = external_url(parse_public_url(public_url), request, "/auth/callback/x")
    assert str(url) == expected


def test_external_url_without_public_url_uses_the_request_origin() -> None:
    request = make_mocked_request("GET", "/auth/login/x", headers={"Host": "app.example.com:81"})
    url = external_url(None, request, "/auth/callback/x")
    assert str(url) == "http://app.example.com:81/auth/callback/x"


def test_external_path() -> None:
    assert external_path(None, "/auth/logout") == "/auth/logout"
    assert external_path(parse_public_url("https://a.example"), "/auth/logout") == "/auth/logout"
    public = parse_public_url("https://a.example/app/")
    assert external_path(public, "/auth/logout") == "/app/auth/logout"


def _redirect_uri(location: str) -> str:
    return URL(location).query["redirect_uri"]


@pytest.mark.parametrize(
    "spoof",
    [
        {"Host": "evil.example"},
        {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
        {"Host": "evil.example", "X-Forwarded-Host": "evil2.example", "Forwarded": "host=e3"},
    ],
)
async def test_spoofed_host_never_changes_the_redirect_uri(
    make_client: MakeClient, spoof: dict[str, str]
) -> None:
    client = await make_client(public_url="https://app.example.com")
    resp = await client.get("/auth/login/fake", headers=spoof, allow_redirects=False)
    assert resp.status == 302
    assert _redirect_uri(resp.headers["Location"]) == "https://app.example.com/auth/callback/fake"


async def test_forwarded_headers_are_ignored_without_public_url(make_client: MakeClient) -> None:
    client = await make_client()
    resp = await client.get(
        "/auth/login/fake",
        headers={"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
        allow_redirects=False,
    )
    assert resp.status == 302
    expected = str(client.make_url("/auth/callback/fake"))
    assert _redirect_uri(resp.headers["Location"]) == expected


async def test_public_url_path_prefix_reaches_the_redirect_uri(make_client: MakeClient) -> None:
    client = await make_client(public_url="https://app.example.com/app")
    resp = await client.get("/auth/login/fake", allow_redirects=False)
    assert resp.status == 302
    assert (
        _redirect_uri(resp.headers["Location"]) == "https://app.example.com/app/auth/callback/fake"
    )
