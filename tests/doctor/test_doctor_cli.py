"""The doctor's command line: a real subprocess, usage errors (exit 2), app-level faults, the
settings it reports, and the ``keygen`` command it sits beside."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import pytest

from aiohttp_oauth2_login.__main__ import main

from ..support.peers import ROOT, free_port
from .conftest import Doctor, assert_no_secret


async def _subprocess(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "aiohttp_oauth2_login",
        *args,
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_subprocess_against_the_hand_made_provider(handmade_op: Any) -> None:
    """``python -m aiohttp_oauth2_login check`` as a developer runs it, from the project dir."""
    op = await handmade_op()
    code, out, err = await _subprocess(
        "check", "--json", "tests.doctor.apps:make_app", env={"DOCTOR_ISSUER": op.issuer}
    )
    assert code == 0, out + err
    report = json.loads(out)
    assert report["exit_code"] == 0
    assert report["summary"]["FAULT"] == 0
    assert report["logins"][0]["providers"][0]["issuer"] == op.issuer
    assert_no_secret(out, err)


async def test_subprocess_names_an_unreachable_provider() -> None:
    issuer = f"http://127.0.0.1:{free_port()}"
    code, out, err = await _subprocess(
        "check", "tests.doctor.apps:make_app", env={"DOCTOR_ISSUER": issuer}
    )
    assert code == 1
    assert f"discovery {issuer}/.well-known/openid-configuration unreachable" in out
    assert "Traceback" not in err
    assert_no_secret(out, err)


async def test_subprocess_usage_error() -> None:
    code, out, err = await _subprocess("check", "tests.doctor.apps", env={})
    assert code == 2
    assert out == ""
    assert "expected MODULE:APP_FACTORY" in err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        ([], "the following arguments are required: MODULE:APP_FACTORY"),
        (["tests.doctor.apps"], "expected MODULE:APP_FACTORY"),
        (["no_such_module_here:app"], "no module named 'no_such_module_here'"),
        (["tests.doctor.apps:missing"], "module 'tests.doctor.apps' has no attribute 'missing'"),
        (["tests.doctor.apps:KEY"], "is neither an aiohttp Application nor a factory"),
        (["tests.doctor.apps:needs_arguments"], "needs arguments (argv, config)"),
        (["tests.doctor.apps:not_an_app"], "returned int, not an aiohttp Application"),
        (["--frobnicate", "tests.doctor.apps:app"], "unrecognized arguments: --frobnicate"),
    ],
)
def test_usage_errors_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    assert main(["check", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert said in captured.err
    assert captured.err.startswith("usage: python -m aiohttp_oauth2_login check")


def test_help_and_keygen(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--help"]) == 0
    assert "MODULE:APP_FACTORY" in capsys.readouterr().out
    assert main(["keygen"]) == 0
    assert len(capsys.readouterr().out.strip()) == 44
    assert main(["nonsense"]) == 2
    assert "check [--json] [--offline] MODULE:APP_FACTORY" in capsys.readouterr().err


async def test_application_object_with_github(doctor: Doctor) -> None:
    """``MODULE:app``; a preset without discovery: its configured endpoints are checked."""
    result = await doctor("tests.doctor.apps:app", "--json")
    assert result.code == 0, result.out
    assert result.report["summary"] == {"OK": 4, "WARN": 0, "FAULT": 0}
    login = result.report["logins"][0]
    assert login["session"]["cookie_name"] == "__Host-aiohttp_oauth2"
    assert login["session"]["secure"] is True
    provider = login["providers"][0]
    assert provider["kind"] == "GitHub preset"
    assert provider["redirect_uri"] == "https://app.example.com/auth/callback/github"
    assert provider["endpoints"]["token_endpoint"] == "https://github.com/login/oauth/access_token"
    assert "endpoints at https://api.github.com, https://github.com" in [
        c["message"] for c in result.report["checks"]
    ]


async def test_aiohttp_style_init_func_gets_an_empty_argv(doctor: Doctor) -> None:
    """``def init_func(argv)``, as ``python -m aiohttp.web`` takes it, is called with ``[]``."""
    result = await doctor("tests.doctor.apps:init_func", "--json")
    assert result.code == 0, result.out + result.err
    assert result.report["logins"][0]["providers"][0]["redirect_uri"] == (
        "https://app.example.com/auth/callback/github"
    )


async def test_every_login_in_sub_apps(doctor: Doctor) -> None:
    result = await doctor("tests.doctor.apps:nested", "--json")
    assert result.code == 0, result.out
    logins = {login["mount"]: login for login in result.report["logins"]}
    assert set(logins) == {"/api/auth", "/admin/inner/auth"}
    inner = logins["/admin/inner/auth"]
    assert inner["login_url"] == "https://app.example.com/admin/inner/auth/login"
    assert inner["session"]["cookie_name"] == "__Host-admin_session"
    assert inner["providers"][0]["redirect_uri"] == (
        "https://app.example.com/admin/inner/auth/callback/github"
    )
    subjects = {c["subject"] for c in result.report["checks"]}
    assert {"/api/auth github", "/admin/inner/auth github"} <= subjects


async def test_secure_storage_served_over_http(doctor: Doctor) -> None:
    """setup_oauth itself refuses it; the doctor shows its message as a fault."""
    result = await doctor("tests.doctor.apps:secure_storage_over_http", "--json")
    assert result.code == 1
    message = result.check("app.build")["message"]
    assert "raised ConfigurationError: " in message and "secure=True" in message


async def test_secure_storage_without_public_url(doctor: Doctor) -> None:
    result = await doctor("tests.doctor.apps:secure_storage_without_public_url", "--json")
    assert result.faults() == {"public_url.missing"}
    assert result.levels("cookie.secure_without_public_url") == ["WARN"]
    session = result.report["logins"][0]["session"]
    assert session["storage"] == (
        "foreign storage SimpleCookieStorage (the app's own aiohttp-session middleware)"
    )


async def test_careless_storage_on_an_https_site(doctor: Doctor) -> None:
    result = await doctor("tests.doctor.apps:lax_storage_over_https", "--json")
    assert result.code == 1
    assert result.faults() == {"cookie.not_secure"}
    warnings = {c["id"] for c in result.report["checks"] if c["level"] == "WARN"}
    assert warnings == {
        "cookie.no_host_prefix",
        "cookie.samesite",
        "cookie.not_httponly",
        "cookie.domain",
    }


async def test_copied_placeholders_and_missing_settings(doctor: Doctor) -> None:
    result = await doctor("tests.doctor.apps:placeholder_and_no_key", "--offline")
    assert result.code == 1
    assert "client_id looks like a placeholder from an example" in result.out
    json_result = await doctor("tests.doctor.apps:placeholder_and_no_key", "--json", "--offline")
    assert json_result.faults() == {
        "provider.placeholder",
        "secret_key.random",
        "public_url.missing",
    }
    login = json_result.report["logins"][0]
    assert login["secret_key"] == "random (made up at start-up: development only)"
    assert login["providers"][0]["redirect_uri"] == "<origin of each request>/auth/callback/github"
    assert "fix: setup_oauth(..., public_url='https://your.site')" in result.out


async def test_configuration_refused_by_setup_oauth(doctor: Doctor) -> None:
    result = await doctor("tests.doctor.apps:refused_by_setup", "--json")
    assert result.code == 1
    check = result.check("app.build")
    assert check["message"].startswith("tests.doctor.apps:refused_by_setup() raised ")
    assert "providers must be a non-empty list" in check["message"]


async def test_app_without_login(doctor: Doctor) -> None:
    result = await doctor("tests.doctor.apps:no_login")
    assert result.code == 1
    assert "no setup_oauth() in this application" in result.out


async def test_the_setup_without_a_key_is_named_by_its_call_site(doctor: Doctor) -> None:
    result = await doctor("tests.doctor.apps:one_setup_without_key", "--json", "--offline")
    lines = (ROOT / "tests/doctor/apps.py").read_text().splitlines()
    call = next(i for i, line in enumerate(lines, 1) if "setup_oauth(dev," in line)
    assert result.check("secret_key.random")["subject"] == f"tests/doctor/apps.py:{call}"
    assert result.faults() == {"secret_key.random", "public_url.missing"}
