"""Redis over TLS (#13): ``rediss://`` with the CA in the query, against a real TLS-only server.

The test makes a CA and a server certificate for 127.0.0.1 (``cryptography``) and starts
``redis-server --port 0 --tls-port P``: no plain-text port at all. Sessions work with the right
CA; with a wrong CA every request that needs Redis is a clear 503, never a 500.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from aiohttp_oauth2_login import ConfigurationError
from aiohttp_oauth2_login.testing import login_flow

from ..support.app import JSON, MakeClient
from ..support.redis_cluster import Node, poll
from ..support.redis_peer import (
    STARTUP_TIMEOUT,
    assert_clear_503,
    fetch,
    require_redis_server,
    session_key,
)
from ..support.session import session_cookie


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(directory: Path, cn: str) -> tuple[Path, ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path = directory / f"{cn}.pem"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, key, cert


@dataclass
class TlsRedis:
    node: Node
    ca: Path
    wrong_ca: Path

    def url(self, ca: Path, extra: str = "") -> str:
        return f"rediss://127.0.0.1:{self.node.port}/0?ssl_ca_certs={ca}{extra}"

    def client(self) -> redis.Redis:
        return redis.Redis(
            host="127.0.0.1",
            port=self.node.port,
            ssl=True,
            ssl_ca_certs=str(self.ca),
            socket_timeout=2,
            decode_responses=True,
        )


@pytest.fixture
def tls_redis(tmp_path: Path) -> Iterator[TlsRedis]:
    ca_path, ca_key, ca_cert = make_ca(tmp_path, "test-ca")
    wrong_ca, _, _ = make_ca(tmp_path, "other-ca")
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    (tmp_path / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    node = Node(tmp_path / "redis", [])
    argv = [require_redis_server(), "--bind", "127.0.0.1", "--port", "0"]  # no plain-text port
    argv += ["--tls-port", str(node.port), "--dir", str(node.directory), "--save", ""]
    argv += ["--appendonly", "no", "--tls-auth-clients", "no"]
    argv += ["--tls-cert-file", str(tmp_path / "server.pem")]
    argv += ["--tls-key-file", str(tmp_path / "server.key"), "--tls-ca-cert-file", str(ca_path)]
    server = TlsRedis(node, ca_path, wrong_ca)
    node.start(argv)
    try:

        def ping() -> bool:
            if node.process is not None and node.process.poll() is not None:
                pytest.fail(f"redis-server exited:\n{node.log_tail()}", pytrace=False)
            with server.client() as r:
                return bool(r.ping())

        poll(ping, timeout=STARTUP_TIMEOUT, what="redis-server (TLS)", log=node.log_tail)
        yield server
    finally:
        node.stop()


async def test_sessions_work_over_tls_with_the_ca(
    make_client: MakeClient, tls_redis: TlsRedis, replayer: aiohttp.ClientSession
) -> None:
    client = await make_client(redis_url=tls_redis.url(tls_redis.ca))
    assert (await login_flow(client)).status == 303
    session_id = session_cookie(client)
    assert session_id is not None
    with tls_redis.client() as r:
        assert r.exists(session_key(session_id))
    answer = await fetch(replayer, client.make_url("/private"), session_id=session_id)
    assert answer.status == 200 and answer.json()["id"] == "alice"
    async with client.post(
        "/auth/logout", headers={"Origin": str(client.make_url("/").origin())}
    ) as resp:
        assert resp.status == 200
    with tls_redis.client() as r:
        assert not r.exists(session_key(session_id))


async def test_a_plain_text_url_or_a_wrong_ca_is_a_clear_503_never_a_500(
    make_client: MakeClient,
    tls_redis: TlsRedis,
    replayer: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    planted = "ab" * 16
    for url in (
        tls_redis.url(tls_redis.wrong_ca),  # the server's certificate does not verify
        f"redis://127.0.0.1:{tls_redis.node.port}/0",  # TLS port, plain-text client
    ):
        client = await make_client(redis_url=url)
        answer = await fetch(replayer, client.make_url("/private"), session_id=planted)
        assert_clear_503(answer)
        resp = await login_flow(client)  # the callback cannot store the session
        assert resp.status == 503, await resp.text()
        answer = await fetch(replayer, client.make_url("/private"), headers=JSON)
        assert answer.status == 401  # no cookie: no Redis needed
    assert "session store unavailable" in caplog.text


async def test_tls_options_in_the_query_are_checked_at_setup(
    make_client: MakeClient, tls_redis: TlsRedis
) -> None:
    with pytest.raises(ConfigurationError) as info:
        await make_client(redis_url=tls_redis.url(tls_redis.ca, "&ssl_cert_reqs_typo=none"))
    assert "ssl_cert_reqs_typo" in str(info.value)
    client = await make_client(redis_url=tls_redis.url(tls_redis.wrong_ca, "&ssl_cert_reqs=none"))
    assert (await login_flow(client)).status == 303  # verification off: the user's choice
