"""A Sentinel group on loopback: a primary, one replica and three Sentinels (quorum 2).

``SentinelGroup.start`` waits (bounded polls) until the replica's link is up and every Sentinel
knows the replica and the two other Sentinels, so a ``SENTINEL FAILOVER`` can proceed at once.
``failover`` asks one Sentinel for it and waits until all three name the former replica as the
primary and it has taken that role. Processes are stopped by PID (``stop``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .redis_cluster import Node, poll, require_redis_cli
from .redis_peer import STARTUP_TIMEOUT, require_redis_server

SERVICE = "mymaster"
SETTLE_TIMEOUT = 30.0  # seconds for Sentinels to discover each other / finish a failover

__all__ = ["SERVICE", "SentinelGroup", "running_sentinels"]


class SentinelGroup:
    def __init__(self, directory: Path) -> None:
        require_redis_cli()
        self.primary = Node(directory / "primary", [])
        self.replica = Node(directory / "replica", [])
        self.replica.extra = ["--replicaof", "127.0.0.1", str(self.primary.port)]
        self.sentinels = [Node(directory / f"sentinel{i}", []) for i in range(3)]

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)
        return f"redis+sentinel://{hosts}/{SERVICE}/0"

    def log(self) -> str:
        nodes = [self.primary, self.replica, *self.sentinels]
        return "\n".join(f"-- {n.directory.name} {n.port}:\n{n.log_tail(12)}" for n in nodes)

    def start(self) -> SentinelGroup:
        self.primary.start()
        self.replica.start()
        for node in (self.primary, self.replica):
            poll(node.ping, timeout=STARTUP_TIMEOUT, what="redis-server", log=node.log_tail)
        for sentinel in self.sentinels:
            conf = sentinel.directory / "sentinel.conf"  # Sentinel rewrites it: a file of its own
            conf.write_text(
                f"port {sentinel.port}\nbind 127.0.0.1\ndir {sentinel.directory}\n"
                f"sentinel monitor {SERVICE} 127.0.0.1 {self.primary.port} 2\n"
                f"sentinel down-after-milliseconds {SERVICE} 1000\n"
                f"sentinel failover-timeout {SERVICE} 4000\n"
                f"sentinel parallel-syncs {SERVICE} 1\n"
            )
            sentinel.start([require_redis_server(), str(conf), "--sentinel"])
        for sentinel in self.sentinels:
            poll(sentinel.ping, timeout=STARTUP_TIMEOUT, what="sentinel", log=sentinel.log_tail)
        poll(self.settled, timeout=SETTLE_TIMEOUT, what="the Sentinel group", log=self.log)
        return self

    def settled(self) -> bool:
        """The replica is in sync and each Sentinel knows it and the two others."""
        with self.replica.client() as r:
            if r.info("replication").get("master_link_status") != "up":
                return False
        for sentinel in self.sentinels:
            with sentinel.client() as s:
                replicas = s.execute_command("SENTINEL", "REPLICAS", SERVICE)
                peers = s.execute_command("SENTINEL", "SENTINELS", SERVICE)
                if len(replicas) != 1 or len(peers) != 2:
                    return False
        return True

    def primary_port(self, sentinel: Node) -> int:
        with sentinel.client() as s:
            _, port = s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
            return int(port)

    def wait_replicated(self) -> None:
        """Everything written to the primary so far is on the replica: a write of our own,
        then ``WAIT 1`` (replication is ordered, so all earlier writes arrived before it)."""
        with self.primary.client() as r:
            r.set("test:replication-marker", "1")
            acked = r.execute_command("WAIT", 1, 10_000)
        assert acked == 1, "the replica did not acknowledge the writes"

    def failover(self) -> None:
        """``SENTINEL FAILOVER``: the replica becomes the primary; wait until it has."""
        with self.sentinels[0].client() as s:
            assert s.execute_command("SENTINEL", "FAILOVER", SERVICE)

    def wait_failed_over(self) -> None:
        """Until the former replica is the primary for every Sentinel and the former primary
        replicates from it. Until that reconfiguration, clients still connected to the former
        primary read and write there (Sentinel then ends those connections: CLIENT KILL)."""

        def done() -> bool:
            if any(self.primary_port(s) != self.replica.port for s in self.sentinels):
                return False
            with self.replica.client() as r:
                if r.info("replication").get("role") != "master":
                    return False
            with self.primary.client() as r:
                info = r.info("replication")
            return bool(
                info.get("role") == "slave"
                and info.get("master_port") == self.replica.port
                and info.get("master_link_status") == "up"
            )

        poll(done, timeout=SETTLE_TIMEOUT, what="the failover", log=self.log)

    def stop(self) -> None:
        for node in (*self.sentinels, self.replica, self.primary):
            node.stop()


def running_sentinels(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    """Body of a fixture: a started Sentinel group, every process stopped afterwards."""
    group = SentinelGroup(tmp_path_factory.mktemp("sentinel"))
    try:
        yield group.start()
    finally:
        group.stop()
