"""`funcatron-wf dev --temporal HOST:PORT --temporal-http HOST:PORT` uses a
running cluster (here the session's real dev server) and embeds none."""

from __future__ import annotations

import httpx

from tests.conftest import EXAMPLES, STACK_NAMESPACE, TemporalServer
from tests.dev_process import DevProcess, pid_alive


def test_dev_against_an_external_temporal(temporal_server: TemporalServer, tmp_path) -> None:
    dev = DevProcess(
        [EXAMPLES / "hello"],
        tmp_path / "dev.log",
        external_temporal=[
            "--temporal", temporal_server.address,
            "--temporal-http", temporal_server.http_address,
            "--namespace", STACK_NAMESPACE,
        ],
    )  # fmt: skip
    try:
        dev.wait_ready()
        assert set(dev.child_pids()) == {"tron", "runner", "runner-standby", "nginx"}
        assert "Temporal UI" not in dev.output()
        response = httpx.get(f"{dev.url}/v1/greet/Ext", headers={"host": "hello.local"}, timeout=30)
        assert response.json() == {"greeting": "Hello, Ext"}
    finally:
        assert dev.interrupt() == 0
    assert not any(pid_alive(pid) for pid in dev.child_pids().values())
    assert pid_alive(temporal_server.process.pid)  # not ours to stop


def test_temporal_without_its_http_api_is_refused(tmp_path) -> None:
    dev = DevProcess(
        [EXAMPLES / "hello"], tmp_path / "dev.log", external_temporal=["--temporal", "127.0.0.1:1"]
    )
    assert dev.popen.wait(60) == 1
    assert "--temporal-http (FUNCATRON_TEMPORAL_HTTP) is needed with --temporal" in dev.output()
