"""Real Redis topologies on loopback for the scale-out tests: a 3-master Cluster, a Sentinel group.

``RedisCluster3`` starts three ``redis-server --cluster-enabled yes`` (free client and bus ports,
temporary directories), joins them with ``redis-cli --cluster create ... --cluster-replicas 0``
and waits (bounded poll) until every node reports ``cluster_state:ok``. ``SentinelGroup``
(``tests/support/redis_sentinel.py``) is the primary + replica + 3 Sentinels. Every process is
stopped by PID in the fixture's teardown, also when the test failed. A missing ``redis-server``
or ``redis-cli`` fails the test (never a skip).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from .peers import free_port, require_executable, terminate
from .redis_peer import STARTUP_TIMEOUT, require_redis_server

CLUSTER_TIMEOUT = 30.0  # seconds for the three nodes to agree on the slot map


def require_redis_cli() -> str:
    return require_executable(
        "redis-cli",
        "redis-cli is missing: the Redis Cluster/Sentinel tests build their topology with it. "
        "Install it with `make system-deps` (Debian/Ubuntu: apt-get install redis-server).",
    )


def poll(
    condition: Callable[[], bool], *, timeout: float, what: str, log: Callable[[], str]
) -> None:
    """Call ``condition`` until it holds (Redis errors count as "not yet"); fail after
    ``timeout`` seconds with ``log``. Blocking: call it from a thread in async tests."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except (redis.RedisError, OSError):
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{log()}", pytrace=False)
        time.sleep(0.05)


class Node:
    """One ``redis-server`` process with the given extra arguments, in its own directory."""

    def __init__(self, directory: Path, extra: list[str], *, port: int | None = None) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = port or free_port()
        self.extra = extra
        self.log = directory / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, argv: list[str] | None = None) -> None:
        cmd = argv or [
            require_redis_server(),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            *self.extra,
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - a fixed argv, no shell
                cmd, cwd=self.directory, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )

    def client(self, timeout: float = 2.0) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
        )

    def ping(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            pytest.fail(f"redis-server exited:\n{self.log_tail()}", pytrace=False)
        with self.client(0.5) as r:
            return bool(r.ping())

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            terminate(process)


class RedisCluster3:
    """Three cluster-enabled masters on 127.0.0.1 sharing the 16384 slots."""

    def __init__(self, directory: Path) -> None:
        self.nodes = [Node(directory / f"n{i}", []) for i in range(3)]
        for node in self.nodes:
            node.extra = [
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                str(node.directory / "nodes.conf"),
                "--cluster-port",
                str(free_port()),
                "--cluster-node-timeout",
                "3000",
            ]

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def log(self) -> str:
        return "\n".join(f"-- node {n.port}:\n{n.log_tail(10)}" for n in self.nodes)

    def start(self) -> RedisCluster3:
        for node in self.nodes:
            node.start()
        for node in self.nodes:
            poll(node.ping, timeout=STARTUP_TIMEOUT, what="redis-server", log=node.log_tail)
        argv = [require_redis_cli(), "--cluster", "create"]
        argv += [f"127.0.0.1:{n.port}" for n in self.nodes]
        argv += ["--cluster-replicas", "0", "--cluster-yes"]
        done = subprocess.run(  # noqa: S603 - a fixed argv, no shell
            argv, capture_output=True, text=True, timeout=CLUSTER_TIMEOUT, check=False
        )
        if done.returncode != 0:
            pytest.fail(f"redis-cli --cluster create failed:\n{done.stdout}{done.stderr}")
        poll(self.ready, timeout=CLUSTER_TIMEOUT, what="cluster_state:ok", log=self.log)
        return self

    def ready(self) -> bool:
        """Every node says ``cluster_state:ok`` and knows all three masters."""
        for node in self.nodes:
            with node.client() as r:
                info = r.execute_command("CLUSTER", "INFO")
                text = info if isinstance(info, str) else str(info)
                if "cluster_state:ok" not in text or "cluster_known_nodes:3" not in text:
                    return False
        return True

    def keys_per_node(self) -> dict[int, set[str]]:
        """The keys each master holds (``KEYS *`` on that node only)."""
        found = {}
        for node in self.nodes:
            with node.client() as r:
                found[node.port] = {str(k) for k in r.keys("*")}
        return found

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def running_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster3]:
    """Body of a fixture: a started 3-master cluster, every node stopped afterwards."""
    cluster = RedisCluster3(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster.start()
    finally:
        cluster.stop()
