"""``python -m example_app [--host HOST] [--port PORT] [--public-url URL]``."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping, Sequence

from aiohttp import web

from aiohttp_oauth2_login import RedactingAccessLogger

from . import create_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080

_EPILOG = """\
environment:
  HOST, PORT, PUBLIC_URL      defaults of the options above
  SECRET_KEY                  session key(s), comma-separated, newest first
                              (python -m aiohttp_oauth2_login keygen); random per process if unset
  GITHUB_CLIENT_ID/_SECRET    enable GitHub sign-in
  GOOGLE_CLIENT_ID/_SECRET    enable Google sign-in
  FACEBOOK_CLIENT_ID/_SECRET  enable Facebook sign-in
  OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET [, OIDC_NAME, OIDC_TITLE]
                              enable any OpenID Connect provider
  DEV_PROVIDER=1|0            force the offline development provider on or off
                              (on by default only when no provider above is configured)

Register <public URL>/auth/callback/<provider> as the redirect URI at each provider.
"""


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port out of range: {port}")
    return port


def default_public_url(host: str, port: int) -> str:
    """The URL a browser on this machine uses to reach ``host:port``."""
    if host in ("", "0.0.0.0"):  # noqa: S104 - recognising the wildcard, not binding to it
        host = DEFAULT_HOST
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def parse_args(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> argparse.Namespace:
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(
        prog="python -m example_app",
        description="Example app of aiohttp-oauth2-login: sign in with OAuth2 / OpenID Connect.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        default=env.get("HOST") or DEFAULT_HOST,
        help="address to listen on (default: $HOST or %(default)s)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=env.get("PORT") or str(DEFAULT_PORT),  # a string default goes through _port
        help="port to listen on (default: $PORT or 8080)",
    )
    parser.add_argument(
        "--public-url",
        default=env.get("PUBLIC_URL") or None,
        help="URL browsers use to reach the app (default: $PUBLIC_URL or http://HOST:PORT)",
    )
    args = parser.parse_args(argv)
    if args.public_url is None:
        args.public_url = default_public_url(args.host, args.port)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        app = create_app(public_url=args.public_url)
    except ValueError as exc:  # configuration errors (ConfigurationError is a ValueError)
        logging.getLogger("example_app").error("cannot start: %s", exc)
        return 2
    web.run_app(
        app,
        host=args.host,
        port=args.port,
        print=None,
        access_log_class=RedactingAccessLogger,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
