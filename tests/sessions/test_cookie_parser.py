"""The strict reader of the plugin's own cookies (``_cookies``): RFC 6265 §5.2 / 6265bis §5.6.

The reader only looks at pairs that start with the wanted name (speed); a Hypothesis property
proves it equals the plain rule — split the header on ``;``, trim SP and HTAB, exact names —
for any header, including the smuggling forms browsers store under another name.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiohttp_oauth2_login._sessions.cookies import (
    DUPLICATE,
    Names,
    chunked,
    chunked_value,
    exact,
    parse_cookie_header,
    prefixed,
)

from ..support.app import HOST_COOKIE as NAME

# every whitespace-like character a lenient parser strips, and that browsers keep in a name
UNICODE_SPACES = ["\x0b", "\x0c", "\xa0", *map(chr, range(0x2000, 0x200B)), "\u3000", "\ufeff"]


def reference(header: str, names: Names) -> dict[str, str]:
    """The rule itself, written the obvious way."""
    found: dict[str, str] = {}
    for pair in header.split(";"):
        name, eq, value = pair.partition("=")
        name = name.strip(" \t")
        if eq and name.startswith(names.needle) and names.accept(name):
            found[name] = DUPLICATE if name in found else value.strip(" \t")
    return found


PIECES = st.sampled_from(
    [
        NAME,
        f"{NAME}.1",
        f"{NAME}.2",
        f"{NAME}.10",
        f"{NAME}x",
        "__Host-aiohttp_oauth2-tx-0123",
        "carrier",
        "other",
        "=",
        ";",
        " ",
        "\t",
        '"',
        "1~",
        "value",
        "VGhpcyBpcyBiYXNlNjQ",
        *UNICODE_SPACES,
    ]
)
HEADERS = st.lists(PIECES, max_size=24).map("".join)
NAMES = st.sampled_from(
    [chunked(NAME), exact(NAME), prefixed("__Host-aiohttp_oauth2-tx-"), prefixed(NAME)]
)


@given(header=HEADERS, names=NAMES)
def test_the_fast_reader_is_the_plain_rule(header: str, names: Names) -> None:
    assert parse_cookie_header(header, names) == reference(header, names)


@given(header=st.text(max_size=80), names=NAMES)
def test_the_fast_reader_is_the_plain_rule_for_any_text(header: str, names: Names) -> None:
    assert parse_cookie_header(header, names) == reference(header, names)


@pytest.mark.parametrize(
    "header",
    [
        f"carrier=1 {NAME}=evil",  # one cookie named "carrier" in the browser
        f'carrier="x {NAME}=evil"',
        f"carrier=1,{NAME}=evil",
        *[f"{space}{NAME}=evil" for space in UNICODE_SPACES],
        *[f"a=b; {space}{NAME}=evil" for space in UNICODE_SPACES],
        f"{NAME}\x0b=evil",
        f"{NAME.lower()}=evil",  # another name: browsers treat __host- as a prefix too
        f"x{NAME}=evil",
        f"{NAME}",  # a nameless cookie's value: never ours
        f"={NAME}=evil",
    ],
    ids=repr,
)
def test_smuggled_names_are_not_the_plugins_cookie(header: str) -> None:
    assert parse_cookie_header(header, chunked(NAME)) == {}


@pytest.mark.parametrize(
    ("header", "value"),
    [
        (f"{NAME}=good", "good"),
        (f"  {NAME}  =  good  ", "good"),  # SP and HTAB are trimmed (RFC 6265bis §5.6)
        (f"\t{NAME}\t=\tgood\t", "good"),
        (f"a=1;{NAME}=good;b=2", "good"),
        (f"a=1 x; {NAME}=good", "good"),
        (f"{NAME}=go=od", "go=od"),
    ],
    ids=repr,
)
def test_genuine_pairs_are_read(header: str, value: str) -> None:
    assert parse_cookie_header(header, chunked(NAME)) == {NAME: value}


@pytest.mark.parametrize(
    "header",
    [
        f"{NAME}=victim; {NAME}=attacker",
        f"{NAME}=attacker; {NAME}=victim",
        f"{NAME}=2~aaa; {NAME}.1=bbb; {NAME}.1=evil",
        f"{NAME}=2~aaa; {NAME}.1=evil; {NAME}.1=bbb",
    ],
)
def test_a_repeated_name_makes_the_cookie_ambiguous(header: str) -> None:
    found = parse_cookie_header(header, chunked(NAME))
    assert DUPLICATE in found.values()
    assert chunked_value(found, NAME, max_chunks=2) is None  # anonymous: no side wins


def test_chunks_are_reassembled_in_order() -> None:
    found = parse_cookie_header(f"{NAME}.1=cd; x=y; {NAME}=2~ab", chunked(NAME))
    assert chunked_value(found, NAME, max_chunks=2) == "abcd"
    assert chunked_value(found, NAME, max_chunks=1) is None  # more chunks than allowed
    missing = parse_cookie_header(f"{NAME}=2~ab", chunked(NAME))
    assert chunked_value(missing, NAME, max_chunks=2) is None
