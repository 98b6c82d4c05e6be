"""``make bench``: interleaved throughput runs, login cost and rate, refresh storm and memory.

Server processes are pinned to core 0; wrk, the fake provider, Redis, the loopback API and this
process (the login load) to core 1. Every variant runs once per round (A B C ... A B C ...); the
table reports medians over the rounds, the min-max spread, and each row's ratio to its baseline
(the median of the per-round ratios, so a noisy round moves both) beside the target it has.
Results: bench/results/results.json and bench/results/bench.png (a full run also refreshes
docs/bench.png). ``--quick`` for short runs while iterating, ``--only public,get_client`` for a
subset (groups: see ``GROUPS``). Tunables: BENCH_ROUNDS, BENCH_SECONDS, BENCH_CONNECTIONS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

from bench.apps import VARIANTS

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "64"))
LABELS = {
    "bare": "bare aiohttp handler",
    "bare_cookie": "bare handler, request carries the ~3 KB cookie unread",
    "plugin_github": "@login_required, cookie storage, GitHub-sized token set",
    "plugin_google": "@login_required, cookie storage, Google-sized token set (~3 KB)",
    "plugin_redis": "@login_required, Redis storage",
    "session_fernet": "aiohttp-session EncryptedCookieStorage (Fernet), read only",
    "public_app": "public route, app with one middleware, no plugin",
    "public_plugin": "public route, same app + setup_oauth",
    "public_app_nomw": "public route, app without middlewares, no plugin",
    "public_plugin_nomw": "public route, same app + setup_oauth",
    "client_shared": "@login_required → loopback API, hand-written, ONE shared ClientSession",
    "client_pooled": "@login_required → loopback API via get_client",
    "client_new_session": "@login_required → loopback API, new ClientSession per call",
}
#: variant → (the variant its ratio is taken against, the target ratio or None)
BASELINES: dict[str, tuple[str, float | None]] = {
    "bare": ("bare", None),
    "bare_cookie": ("bare", None),
    "plugin_github": ("bare", 0.80),
    "plugin_google": ("bare", 0.75),
    "plugin_redis": ("bare", 0.60),
    "session_fernet": ("bare", None),
    "public_app": ("public_app", None),
    "public_plugin": ("public_app", 0.97),
    "public_app_nomw": ("public_app_nomw", None),
    "public_plugin_nomw": ("public_app_nomw", 0.97),
    "client_shared": ("client_shared", None),
    "client_pooled": ("client_shared", 0.90),
    "client_new_session": ("client_shared", None),
}
#: the variant whose /__bench/cookie a variant's requests carry (None: no cookie)
COOKIE_FROM: dict[str, str | None] = {
    "bare": None,
    "bare_cookie": "plugin_google",
    "public_app": "public_plugin",
    "public_app_nomw": "public_plugin",
    "public_plugin_nomw": "public_plugin",
}
GROUPS: dict[str, tuple[str, ...]] = {
    "protected": ("bare", "bare_cookie", "plugin_github", "plugin_google"),
    "redis": ("bare", "plugin_redis"),
    "fernet": ("bare", "session_fernet"),
    "public": ("public_app", "public_plugin", "public_app_nomw", "public_plugin_nomw"),
    "get_client": ("client_shared", "client_pooled", "client_new_session"),
    "login": (),
    "storm": (),
    "memory": (),
}
#: flow results checked against a target: (section, key, "max" or "min", bound, shown as)
FLOW_TARGETS = (
    ("login", "plugin_cpu_ms_per_login", "max", 2.0, "plugin CPU per login ≤ 2 ms"),
    ("login", "logins_per_s_16_concurrent", "min", 500.0, "≥ 500 logins/s at 16 concurrent"),
    (
        "memory",
        "rss_kib_per_10k_logins_second_half",
        "max",
        512.0,
        "RSS slope (second half) ≤ 0.5 MiB / 10⁴ logins",
    ),
    (
        "memory",
        "objects_per_10k_logins_second_half",
        "max",
        100.0,
        "live objects (second half) ≤ 100 / 10⁴ logins",
    ),
    ("memory", "traced_bytes_kept_per_pending", "max", 16.0, "≤ 16 B kept per pending login"),
    ("memory", "rss_kib_added_by_pending", "max", 512.0, "pending logins add ≤ 0.5 MiB RSS"),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned(core: int, argv: list[str]) -> list[str]:
    """Pin to ``core`` when there are two cores or more and taskset exists."""
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        return ["taskset", "-c", str(core), *argv]
    return argv


async def wait_ready(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up")
            await asyncio.sleep(0.1)


@contextmanager
def process(
    argv: list[str], core: int, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    full_env = {**os.environ, **env} if env else None
    proc = subprocess.Popen(pinned(core, argv), cwd=ROOT.parent, env=full_env)  # noqa: S603
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def redis_server() -> Iterator[str]:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        argv = [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            tmp,
        ]
        with process(argv, core=1):
            for _ in range(100):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"


async def fetch_cookie(port: int) -> str:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/__bench/cookie") as resp:
            return "; ".join(f"{k}={m.value}" for k, m in resp.cookies.items())


_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_COUNT = re.compile(r"(\d+) requests in")
_P99 = re.compile(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(port: int, cookie: str | None, seconds: int) -> dict[str, float]:
    """One wrk run on core 1: requests/s and p99 latency (ms)."""
    argv = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        f"http://127.0.0.1:{port}/",
    ]
    if cookie:
        argv[1:1] = ["-H", f"Cookie: {cookie}", "-H", "Accept: application/json"]
    out = subprocess.run(  # noqa: S603
        pinned(1, argv), capture_output=True, text=True, timeout=seconds + 30, check=True
    ).stdout
    rps, p99, count = _RPS.search(out), _P99.search(out), _COUNT.search(out)
    if rps is None or p99 is None or count is None or "Non-2xx" in out:
        raise RuntimeError(f"wrk output not understood (or non-2xx answers):\n{out}")
    return {
        "rps": float(rps.group(1)),
        "p99_ms": float(p99.group(1)) * _UNIT[p99.group(2)],
        "requests": float(count.group(1)),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (the server's cost, whatever the load generator)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def throughput(
    variants: list[str], rounds: int, seconds: int
) -> dict[str, list[dict[str, float]]]:
    """Every variant, interleaved, ``rounds`` times."""
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    sources = {COOKIE_FROM.get(v, v) for v in variants} - {None}
    serve = [v for v in VARIANTS if v in variants or v in sources]
    ports = {v: free_port() for v in serve}
    api_port = free_port()
    with (
        redis_server() if "plugin_redis" in serve else _nothing("") as redis_url,
        process([sys.executable, "-m", "bench.apps", "api", str(api_port)], core=1),
    ):
        procs = {}
        for variant in serve:
            argv = [sys.executable, "-m", "bench.apps", variant, str(ports[variant])]
            if redis_url:
                argv += ["--redis-url", redis_url]
            argv += ["--api", f"http://127.0.0.1:{api_port}/"]
            procs[variant] = process(argv, core=0)
        entered = {v: p.__enter__() for v, p in procs.items()}
        try:
            for variant in serve:
                await wait_ready(f"http://127.0.0.1:{ports[variant]}/")
            await wait_ready(f"http://127.0.0.1:{api_port}/ping")
            for rnd in range(rounds):
                for variant in variants:
                    source = COOKIE_FROM.get(variant, variant)
                    cookie = await fetch_cookie(ports[source]) if source else None  # fresh
                    pid = entered[variant].pid
                    before = cpu_seconds(pid)
                    result = wrk(ports[variant], cookie, seconds)
                    result["cpu_us"] = (cpu_seconds(pid) - before) / result["requests"] * 1e6
                    runs[variant].append(result)
                    print(
                        f"round {rnd + 1}/{rounds} {variant:20s} {result['rps']:9.0f} req/s "
                        f"p99 {result['p99_ms']:.2f} ms",
                        flush=True,
                    )
        finally:
            for proc in procs.values():
                proc.__exit__(None, None, None)
    return runs


@contextmanager
def _nothing(value: str) -> Iterator[str]:
    yield value


def ratios(runs: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, Any]]:
    """Per row: the median of the per-round ratios to its baseline (by req/s and by server CPU
    per request), the target and whether it is met."""
    out: dict[str, dict[str, Any]] = {}
    for variant, results in runs.items():
        base, target = BASELINES[variant]
        if base not in runs:
            continue
        pairs = list(zip(results, runs[base], strict=True))
        by_rps = statistics.median(r["rps"] / b["rps"] for r, b in pairs)
        by_cpu = statistics.median(b["cpu_us"] / r["cpu_us"] for r, b in pairs)
        out[variant] = {
            "baseline": base,
            "ratio": round(by_rps, 3),
            "ratio_cpu": round(by_cpu, 3),
            "target": target,
            "met": None if target is None else _both(by_rps, by_cpu, target),
        }
    return out


def _both(by_rps: float, by_cpu: float, target: float) -> bool | str:
    """Met when both ratios reach the target, missed when neither does, else which one did."""
    if (by_rps >= target) == (by_cpu >= target):
        return by_rps >= target
    return "unclear (req/s met, CPU missed)" if by_rps >= target else "unclear (CPU met only)"


def _verdict(met: bool | str | None) -> str:
    if isinstance(met, str):
        return met
    return "" if met is None else ("met" if met else "**missed**")


def table(runs: dict[str, list[dict[str, float]]], rows: dict[str, dict[str, Any]]) -> str:
    """Medians over the rounds and each row's ratio to its baseline beside its target. The CPU
    ratio (server CPU per request) does not depend on how fast the load generator is."""
    lines = [
        "| variant | req/s (median) | min–max | p99 ms | server CPU µs/req | ratio | vs "
        "| ratio by CPU | target | |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for variant, results in runs.items():
        rps = [r["rps"] for r in results]
        med = statistics.median(rps)
        p99 = statistics.median(r["p99_ms"] for r in results)
        cpu = statistics.median(r["cpu_us"] for r in results)
        row = rows.get(variant)
        if row is None:
            ratio_cells = "| | | | |"
        else:
            target = "" if row["target"] is None else f"≥ {row['target']:.2f}"
            ratio_cells = (
                f"{row['ratio']:.2f} | {row['baseline']} | {row['ratio_cpu']:.2f} | {target} "
                f"| {_verdict(row['met'])} |"
            )
        lines.append(
            f"| {LABELS[variant]} | {med:,.0f} | {min(rps):,.0f}–{max(rps):,.0f} | {p99:.2f} | "
            f"{cpu:.1f} | {ratio_cells}"
        )
    return "\n".join(lines)


def flow_targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The flow figures that have a target, with the verdict."""
    checked = []
    for section, key, kind, bound, label in FLOW_TARGETS:
        value = report.get(section, {}).get(key)
        if value is None:
            continue
        met = value <= bound if kind == "max" else value >= bound
        checked.append({"target": label, "value": value, "met": met})
    return checked


def plot(runs: dict[str, list[dict[str, float]]], rows: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(runs)
    rps = [statistics.median(r["rps"] for r in runs[n]) for n in names]
    ratio = [rows[n]["ratio"] if n in rows else 0.0 for n in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 0.45 * len(names) + 2))
    left.barh(names, rps, color="#3b6fd8")
    left.set_xlabel("requests/s (median)")
    left.invert_yaxis()
    palette = {None: "#999999", True: "#3b9d4b", False: "#d8733b"}  # else unclear: yellow
    colours = [palette.get(rows.get(n, {}).get("met"), "#d8c33b") for n in names]
    right.barh(names, ratio, color=colours, label="by req/s")
    cpu = [(rows[n]["ratio_cpu"], i) for i, n in enumerate(names) if n in rows]
    right.scatter([c for c, _ in cpu], [i for _, i in cpu], marker="x", color="black", zorder=3)
    for i, n in enumerate(names):
        target = rows.get(n, {}).get("target")
        if target is not None:
            right.plot([target, target], [i - 0.4, i + 0.4], color="black")
    right.set_xlabel(
        "ratio to the row's baseline by req/s (bar) and by CPU (×); | target;\n"
        "green met, orange missed, yellow unclear"
    )
    right.set_xlim(0, 1.1)
    right.invert_yaxis()
    right.set_yticklabels([])
    fig.suptitle("aiohttp-oauth2-login vs aiohttp without it (server on 1 core, interleaved)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds × 2 s, fewer logins")
    parser.add_argument(
        "--only", default="", help=f"comma-separated groups: {', '.join(GROUPS)} (default: all)"
    )
    args = parser.parse_args(argv)
    only = [g.strip() for g in args.only.split(",") if g.strip()] or list(GROUPS)
    unknown = sorted(set(only) - set(GROUPS))
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    args.groups = only
    return args


async def main(argv: list[str] | None = None) -> None:
    from bench.flows import Scale, login_cost, memory, refresh_storm

    args = parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk (make bench installs it as root)")
    if (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {1})  # the login load shares core 1 with wrk and the fake
    rounds = int(os.environ.get("BENCH_ROUNDS", "2" if args.quick else str(ROUNDS)))
    seconds = int(os.environ.get("BENCH_SECONDS", "2" if args.quick else str(SECONDS)))
    scale = Scale.quick() if args.quick else Scale()
    variants = [v for v in VARIANTS if any(v in GROUPS[g] for g in args.groups)]
    RESULTS.mkdir(exist_ok=True)
    report: dict[str, Any] = {
        "rounds": rounds,
        "seconds": seconds,
        "connections": CONNECTIONS,
        "quick": args.quick,
        "groups": args.groups,
        "load_average_start": os.getloadavg(),
    }
    if variants:
        report["throughput"] = await throughput(variants, rounds, seconds)
        report["ratios"] = ratios(report["throughput"])
    if "login" in args.groups:
        report["login"] = await login_cost(scale)
    if "storm" in args.groups:
        report["refresh_storm"] = await refresh_storm(scale)
    if "memory" in args.groups:
        report["memory"] = await memory(scale)
    report["flow_targets"] = flow_targets(report)
    report["load_average_end"] = os.getloadavg()
    (RESULTS / "results.json").write_text(json.dumps(report, indent=2))
    print()
    if variants:
        plot(report["throughput"], report["ratios"], RESULTS / "bench.png")
        if not args.quick and args.groups == list(GROUPS):
            shutil.copyfile(RESULTS / "bench.png", ROOT.parent / "docs" / "bench.png")
        print(table(report["throughput"], report["ratios"]))
        print()
    for key in ("login", "refresh_storm", "memory"):
        if key in report:
            print(f"{key}: " + ", ".join(f"{k}={v}" for k, v in report[key].items()))
    for check in report["flow_targets"]:
        print(f"target {check['target']}: {check['value']} — {_verdict(check['met'])}")
    start, end = report["load_average_start"][0], report["load_average_end"][0]
    print(f"\nload average (1 min) at start {start:.2f}, at end {end:.2f}")
    print(f"raw results: {RESULTS / 'results.json'}; plot: {RESULTS / 'bench.png'}")


if __name__ == "__main__":
    asyncio.run(main())
