"""The login doctor: ``python -m aiohttp_oauth2_login check MODULE:APP_FACTORY``.

It builds the application (never starts it), finds every ``setup_oauth`` in it and its
sub-applications, prints the providers, the redirect URIs to register and the cookie settings,
asks each OpenID Connect provider for its discovery document and JWKS, and names every fault
with its fix. Exit code 0 without faults, 1 with faults, 2 for a command line that names no
application.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine
from typing import Any, NoReturn, TextIO

import aiohttp

from .._version import __version__
from ..providers.oidc import OIDCProvider
from .discovery import check_oidc_provider
from .load import BuildError, UsageError, build_app, find_logins
from .report import Report
from .setup_checks import describe_login, provider_subject

__all__ = ["USAGE", "UsageError", "diagnose", "run"]

USAGE = "python -m aiohttp_oauth2_login check [--json] [--offline] MODULE:APP_FACTORY"


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``run`` decides the exit code."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _parser() -> _Parser:
    parser = _Parser(
        prog="python -m aiohttp_oauth2_login check",
        usage=USAGE,
        description="Check an app's sign-in set-up before deploying it: providers, redirect "
        "URIs, cookies, and each OpenID Connect provider's discovery document.",
        add_help=False,
    )
    parser.add_argument(
        "target", metavar="MODULE:APP_FACTORY", help="an Application or a factory returning one"
    )
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--offline", action="store_true", help="only the configuration: ask no provider"
    )
    return parser


async def diagnose(target: str, *, offline: bool = False) -> Report:
    """The report for ``target`` (``UsageError`` when it names no application)."""
    report = Report(target)
    try:
        built = await build_app(target)
    except BuildError as exc:
        report.add(
            "FAULT",
            "app.build",
            target,
            str(exc),
            "fix the error above (setup_oauth's ConfigurationError names the option)",
        )
        return report
    logins = find_logins(built.app)
    if not logins:
        report.add(
            "FAULT",
            "app.no_login",
            target,
            "no setup_oauth() in this application or its sub-applications",
            "call setup_oauth(app, providers=[...], ...) in the factory",
        )
        return report
    # the warning names where setup_oauth was called, not which app: with some setups keyed
    # and some not, each call site is named instead of guessing which login it built
    random_key: bool | None = bool(built.random_keys)
    if built.random_keys and len(built.random_keys) != len(logins):
        random_key = None
        for where in built.random_keys:
            report.add(
                "FAULT",
                "secret_key.random",
                where,
                "setup_oauth called here without secret_key: a random key is made up at start",
                "generate one with 'python -m aiohttp_oauth2_login keygen'",
            )
    several = len(logins) > 1
    facts = [
        describe_login(report, login, random_key=random_key, several=several) for login in logins
    ]
    report.logins = facts
    if offline:
        return report
    async with aiohttp.ClientSession(
        headers={"User-Agent": f"aiohttp-oauth2-login/{__version__} (doctor)"},
        cookie_jar=aiohttp.DummyCookieJar(),
    ) as http:
        jobs = []
        parts = []
        for login, login_facts in zip(logins, facts, strict=True):
            for provider, provider_facts in zip(
                login.providers.values(), login_facts.providers, strict=True
            ):
                if isinstance(provider, OIDCProvider):
                    part = Report(target)
                    parts.append(part)
                    subject = provider_subject(login, provider, several)
                    jobs.append(
                        _guarded(
                            part,
                            subject,
                            check_oidc_provider(
                                part, subject, provider, provider_facts, http, login.config.limits
                            ),
                        )
                    )
        await asyncio.gather(*jobs)
    for part in parts:
        report.checks += part.checks
    return report


async def _guarded(report: Report, subject: str, job: Coroutine[Any, Any, None]) -> None:
    """A provider's checks; whatever they did not foresee is a named fault, not a traceback."""
    try:
        await job
    except Exception as exc:
        report.add(
            "FAULT",
            "provider.check_failed",
            subject,
            f"checking this provider failed: {type(exc).__name__}",
            "run the doctor again; if it persists, report it with the provider's discovery URL",
        )


def run(argv: list[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """``check`` with its arguments; returns the exit code (0 fine, 1 faults, 2 usage)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    if argv and argv[0] in ("-h", "--help"):
        out.write(_parser().format_help())
        return 0
    try:
        args = _parser().parse_args(argv)
        report = asyncio.run(diagnose(args.target, offline=args.offline))
    except UsageError as exc:
        err.write(f"usage: {USAGE}\nerror: {exc}\n")
        return 2
    out.write((report.to_json() if args.json else report.to_text()) + "\n")
    return report.exit_code
