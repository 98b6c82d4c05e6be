"""Import ``MODULE:APP_FACTORY`` the way ``python -m aiohttp.web`` does (the working directory
on ``sys.path``), build the application without starting it, and find every ``setup_oauth``
in it and its sub-applications."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import warnings
from dataclasses import dataclass, field

from aiohttp import web

from .._plugin import OAuthLogin
from ..keys import APP_KEY

__all__ = ["Built", "UsageError", "build_app", "find_logins"]

#: the start of the warning ``setup_oauth`` gives when it makes up a random ``secret_key``
RANDOM_KEY_WARNING = "aiohttp_oauth2_login: no secret_key given"


class UsageError(Exception):
    """The command line names no usable application (exit code 2)."""


class BuildError(Exception):
    """Importing the module or calling the factory raised (a fault of the app: exit code 1)."""


@dataclass(slots=True)
class Built:
    """The application and the call sites of ``setup_oauth`` that got a random key."""

    app: web.Application
    random_keys: list[str] = field(default_factory=list)


def _split(spec: str) -> tuple[str, str]:
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise UsageError(
            f"expected MODULE:APP_FACTORY (e.g. 'myapp.main:create_app'), got {spec!r}"
        )
    return module, attr


def _import(module: str) -> object:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module == exc.name or module.startswith(exc.name + ".")):
            raise UsageError(
                f"no module named {module!r} (looked in {cwd} and on sys.path; run the "
                "command from your project's directory)"
            ) from None
        raise BuildError(f"importing {module!r} failed: {_describe(exc)}") from exc
    except Exception as exc:
        raise BuildError(f"importing {module!r} failed: {_describe(exc)}") from exc


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = text if len(text) <= 600 else text[:600] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _call(spec: str, target: object) -> object:
    if isinstance(target, web.Application):
        return target
    if not callable(target):
        raise UsageError(f"{spec} is neither an aiohttp Application nor a factory")
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        signature = None
    args: list[object] = []
    if signature is not None:
        required = [
            p
            for p in signature.parameters.values()
            if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if len(required) == 1 and required[0].kind in positional:
            # aiohttp's ``init_func(argv)``: ``python -m aiohttp.web`` passes the extra
            # command-line arguments, and the doctor has none to pass
            args.append([])
        elif required:
            raise UsageError(
                f"{spec} needs arguments ({', '.join(p.name for p in required)}): give a "
                "factory that takes none, or aiohttp's init_func(argv)"
            )
    try:
        result = target(*args)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        raise BuildError(f"{spec}() raised {_describe(exc)}") from exc
    return result


async def build_app(spec: str) -> Built:
    """The application ``spec`` names (a factory is called, sync or async, with no arguments,
    or with an empty ``argv`` when it is aiohttp's ``init_func(argv)``)."""
    module_name, attr = _split(spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = _import(module_name)
        target: object = module
        for part in attr.split("."):
            try:
                target = getattr(target, part)
            except AttributeError:
                raise UsageError(f"module {module_name!r} has no attribute {attr!r}") from None
        app = await _call(spec, target)
    if not isinstance(app, web.Application):
        raise UsageError(f"{spec} returned {type(app).__name__}, not an aiohttp Application")
    random_keys = [
        f"{os.path.relpath(w.filename)}:{w.lineno}"
        for w in caught
        if str(w.message).startswith(RANDOM_KEY_WARNING)
    ]
    return Built(app, random_keys)


def find_logins(app: web.Application) -> list[OAuthLogin]:
    """Every ``OAuthLogin`` of ``app`` and its sub-applications, outermost first."""
    found: list[OAuthLogin] = []
    seen: set[int] = set()
    pending = [app]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        if APP_KEY in current and current[APP_KEY] not in found:
            found.append(current[APP_KEY])
        for resource in current.router.resources():
            sub = getattr(resource, "_app", None)
            if isinstance(sub, web.Application):
                pending.append(sub)
    return found
