"""``make bench``: interleaved throughput runs, login cost, refresh storm and memory.

Server processes are pinned to core 0 and the load generator (wrk) to core 1; every variant runs
once per round (A B C ... A B C ...), and the table reports medians over the rounds with the
min-max spread and the ratio to bare aiohttp. Results: bench/results/results.json and
bench/results/bench.png. Tunables: BENCH_ROUNDS (5), BENCH_SECONDS (5), BENCH_CONNECTIONS (64).
"""

from __future__ import annotations

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
    "client_pooled": "get_client → loopback API (the plugin's pooled session)",
    "client_new_session": "handler → loopback API, new ClientSession per call",
}


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
def process(argv: list[str], core: int) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(pinned(core, argv), cwd=ROOT.parent)  # noqa: S603
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


def wrk(port: int, cookie: str | None) -> dict[str, float]:
    """One wrk run on core 1: requests/s and p99 latency (ms)."""
    argv = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{SECONDS}s",
        "--latency",
        f"http://127.0.0.1:{port}/",
    ]
    if cookie:
        argv[1:1] = ["-H", f"Cookie: {cookie}", "-H", "Accept: application/json"]
    out = subprocess.run(  # noqa: S603
        pinned(1, argv), capture_output=True, text=True, timeout=SECONDS + 30, check=True
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


async def throughput() -> dict[str, list[dict[str, float]]]:
    """Every variant, interleaved, ROUNDS times."""
    runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}
    ports = {v: free_port() for v in VARIANTS}
    api_port = free_port()
    with (
        redis_server() as redis_url,
        process([sys.executable, "-m", "bench.apps", "api", str(api_port)], core=1),
    ):
        procs = []
        for variant in VARIANTS:
            argv = [
                sys.executable,
                "-m",
                "bench.apps",
                variant,
                str(ports[variant]),
                "--redis-url",
                redis_url,
                "--api",
                f"http://127.0.0.1:{api_port}/",
            ]
            procs.append(process(argv, core=0))
        entered = [p.__enter__() for p in procs]
        try:
            for variant in VARIANTS:
                await wait_ready(f"http://127.0.0.1:{ports[variant]}/")
            await wait_ready(f"http://127.0.0.1:{api_port}/ping")
            for rnd in range(ROUNDS):
                for variant in VARIANTS:
                    source = "plugin_google" if variant in ("bare", "bare_cookie") else variant
                    cookie = await fetch_cookie(ports[source])  # fresh each round
                    pid = entered[VARIANTS.index(variant)].pid
                    before = cpu_seconds(pid)
                    result = wrk(ports[variant], None if variant == "bare" else cookie)
                    result["cpu_us"] = (cpu_seconds(pid) - before) / result["requests"] * 1e6
                    runs[variant].append(result)
                    print(
                        f"round {rnd + 1}/{ROUNDS} {variant:20s} {result['rps']:9.0f} req/s "
                        f"p99 {result['p99_ms']:.2f} ms",
                        flush=True,
                    )
        finally:
            for proc, handle in zip(procs, entered, strict=True):
                proc.__exit__(None, None, None)
                del handle
    return runs


def table(runs: dict[str, list[dict[str, float]]]) -> str:
    """Medians over the rounds; × bare by throughput and by the server's CPU per request (the
    latter does not depend on how fast the load generator is on a shared machine)."""
    bare = statistics.median(r["rps"] for r in runs["bare"])
    bare_cpu = statistics.median(r["cpu_us"] for r in runs["bare"])
    lines = [
        "| variant | req/s (median) | min–max | p99 ms | × bare | server CPU µs/req | "
        "× bare (CPU) |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, results in runs.items():
        rps = [r["rps"] for r in results]
        med = statistics.median(rps)
        p99 = statistics.median(r["p99_ms"] for r in results)
        cpu = statistics.median(r["cpu_us"] for r in results)
        lines.append(
            f"| {LABELS[variant]} | {med:,.0f} | {min(rps):,.0f}–{max(rps):,.0f} | "
            f"{p99:.2f} | {med / bare:.2f} | {cpu:.1f} | {bare_cpu / cpu:.2f} |"
        )
    return "\n".join(lines)


def plot(runs: dict[str, list[dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(runs)
    rps = [statistics.median(r["rps"] for r in runs[n]) for n in names]
    p99 = [statistics.median(r["p99_ms"] for r in runs[n]) for n in names]
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    left.barh(names, rps, color="#3b6fd8")
    left.set_xlabel("requests/s (median)")
    left.invert_yaxis()
    right.barh(names, p99, color="#d8733b")
    right.set_xlabel("p99 latency, ms (median)")
    right.invert_yaxis()
    right.set_yticklabels([])
    fig.suptitle("aiohttp-oauth2-login: a protected route vs bare aiohttp (server on 1 core)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


async def main() -> None:
    from bench.flows import login_cost, memory, refresh_storm

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk (make bench installs it as root)")
    RESULTS.mkdir(exist_ok=True)
    report: dict[str, Any] = {"rounds": ROUNDS, "seconds": SECONDS, "connections": CONNECTIONS}
    report["throughput"] = await throughput()
    report["login"] = await login_cost()
    report["refresh_storm"] = await refresh_storm()
    report["memory"] = await memory()
    (RESULTS / "results.json").write_text(json.dumps(report, indent=2))
    plot(report["throughput"], RESULTS / "bench.png")
    print()
    print(table(report["throughput"]))
    print()
    for key in ("login", "refresh_storm", "memory"):
        print(f"{key}: " + ", ".join(f"{k}={v}" for k, v in report[key].items()))
    print(f"\nraw results: {RESULTS / 'results.json'}; plot: {RESULTS / 'bench.png'}")


if __name__ == "__main__":
    asyncio.run(main())
