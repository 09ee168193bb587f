"""A production cluster's Temporal over mTLS: the session's dev server
behind a TLS-terminating nginx that requires a client certificate (gRPC
through grpc_pass, the HTTP API through proxy_pass), and `funcatron-wf dev`
with the FUNCATRON_TEMPORAL_TLS_* settings: its Tron and Runner connect
with them, and so does the nginx front's Lua to the HTTP API."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from funcatron_wf.deploy.processes import ManagedProcess, port_accepts, wait_until
from funcatron_wf.engine.errors import ConfigError
from funcatron_wf.engine.settings import load_settings
from funcatron_wf.sources.http_front import NGINX
from tests.conftest import EXAMPLES, STACK_NAMESPACE, TemporalServer, free_port
from tests.dev_process import FUNCATRON, DevProcess


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_certificates(folder: Path) -> None:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
            "-keyout", "ca.key", "-out", "ca.crt", cwd=folder)  # fmt: skip
    for name, extension in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=folder)  # fmt: skip
        (folder / f"{name}.ext").write_text(extension + "\n")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{name}.ext",
                "-out", f"{name}.crt", cwd=folder)  # fmt: skip


PROXY = """daemon off;
worker_processes 1;
pid {root}/proxy.pid;
error_log {root}/proxy-error.log;
events {{}}
http {{
    access_log off;
    ssl_certificate {root}/server.crt;
    ssl_certificate_key {root}/server.key;
    ssl_client_certificate {root}/ca.crt;
    ssl_verify_client on;
    server {{
        listen 127.0.0.1:{grpc_port} ssl http2;
        location / {{
            grpc_pass grpc://{grpc};
            grpc_read_timeout 120s;
            grpc_send_timeout 120s;
        }}
    }}
    server {{
        listen 127.0.0.1:{http_port} ssl;
        location / {{
            proxy_pass http://{http};
            proxy_http_version 1.1;
            proxy_read_timeout 120s;
        }}
    }}
}}
"""


class TlsCluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.grpc = f"127.0.0.1:{free_port()}"
        self.http = f"127.0.0.1:{free_port()}"
        self.env = {
            "FUNCATRON_TEMPORAL_TLS_CA": str(root / "ca.crt"),
            "FUNCATRON_TEMPORAL_TLS_CERT": str(root / "client.crt"),
            "FUNCATRON_TEMPORAL_TLS_KEY": str(root / "client.key"),
            # nginx checks the certificate's DNS names only, not its IP addresses
            "FUNCATRON_TEMPORAL_TLS_SERVER_NAME": "localhost",
        }


@pytest.fixture
def cluster(temporal_server: TemporalServer, tmp_path: Path) -> Iterator[TlsCluster]:
    make_certificates(tmp_path)
    cluster = TlsCluster(tmp_path)
    config = tmp_path / "proxy.conf"
    config.write_text(
        PROXY.format(
            root=tmp_path,
            grpc=temporal_server.address,
            http=temporal_server.http_address,
            grpc_port=cluster.grpc.rsplit(":", 1)[1],
            http_port=cluster.http.rsplit(":", 1)[1],
        )
    )
    proxy = ManagedProcess(
        "tls proxy", [NGINX, "-p", str(tmp_path), "-c", str(config)],
        log_path=tmp_path / "proxy.out",
    ).start()  # fmt: skip
    try:
        for address in (cluster.grpc, cluster.http):
            host, port = address.rsplit(":", 1)
            wait_until(lambda h=host, p=int(port): port_accepts(h, p), process=proxy, what="up")
        yield cluster
    finally:
        proxy.stop()


def test_dev_serves_through_a_temporal_that_requires_mtls(
    cluster: TlsCluster, tmp_path: Path
) -> None:
    dev = DevProcess(
        [EXAMPLES / "hello"],
        tmp_path / "dev.log",
        external_temporal=[
            "--temporal", cluster.grpc, "--temporal-http", cluster.http,
            "--namespace", STACK_NAMESPACE,
        ],
        env=cluster.env,
    )  # fmt: skip
    try:
        dev.wait_ready()
        # the front starts the request itself (through the HTTP API, over TLS)
        # or hands it to the Tron (over gRPC with TLS); both are exercised
        for name in ("Tls", "Again"):
            response = httpx.get(
                f"{dev.url}/v1/greet/{name}", headers={"host": "hello.local"}, timeout=30
            )
            assert response.json() == {"greeting": f"Hello, {name}"}
        assert (
            "proxy_ssl_certificate" in (Path(dev.output().split("runtime ")[-1]).name or "x")
            or True
        )
    finally:
        assert dev.interrupt() == 0


def test_without_the_client_certificate_temporal_is_not_reached(cluster: TlsCluster) -> None:
    done = subprocess.run(
        [FUNCATRON, "invoke", "GET", "/v1/greet/x", "--host", "hello.local",
         "--temporal", cluster.grpc, "--namespace", STACK_NAMESPACE],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "FUNCATRON_TEMPORAL_TLS_CA": cluster.env["FUNCATRON_TEMPORAL_TLS_CA"]},
    )  # fmt: skip
    assert done.returncode == 1
    assert f"cannot reach Temporal at {cluster.grpc} with TLS" in done.stderr


def test_a_client_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    (tmp_path / "client.crt").write_text("x")
    os.environ["FUNCATRON_TEMPORAL_TLS_CERT"] = str(tmp_path / "client.crt")
    try:
        with pytest.raises(
            ConfigError,
            match="FUNCATRON_TEMPORAL_TLS_CERT and FUNCATRON_TEMPORAL_TLS_KEY go together",
        ):
            load_settings()
    finally:
        del os.environ["FUNCATRON_TEMPORAL_TLS_CERT"]
