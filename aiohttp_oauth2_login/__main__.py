"""Command line: ``python -m aiohttp_oauth2_login keygen`` prints a fresh ``secret_key``;
``python -m aiohttp_oauth2_login check MODULE:APP_FACTORY`` runs the login doctor."""

from __future__ import annotations

import sys

from ._doctor import USAGE as CHECK_USAGE
from ._doctor import run as check
from ._sessions.cookie_storage import generate_key

USAGE = f"usage: python -m aiohttp_oauth2_login keygen\n       {CHECK_USAGE}"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["keygen"]:
        print(generate_key())
        return 0
    if args[:1] == ["check"]:
        return check(args[1:])
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
