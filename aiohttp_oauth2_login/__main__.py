"""Command line: ``python -m aiohttp_oauth2_login keygen`` prints a fresh ``secret_key``."""

from __future__ import annotations

import sys

from ._sessions.cookie_storage import generate_key


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["keygen"]:
        print(generate_key())
        return 0
    print("usage: python -m aiohttp_oauth2_login keygen", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
