"""The real nginx front while the Temporal server is killed and started
again (on a database file): a request that started is never answered 503
(which invites a retry that would run it twice); it waits the outage out and
gets its answer. A request that could not start gets 503 with Retry-After."""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.service import RPCError

from funcatron_wf.deploy.processes import ManagedProcess, port_accepts, wait_until
from funcatron_wf.deploy.temporal_dev import dev_server
from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.contracts import idempotent_request_id
from funcatron_wf.engine.registry_client import ensure_registry, register_func
from funcatron_wf.engine.settings import Settings
from funcatron_wf.engine.temporal_client import connect_when_ready
from funcatron_wf.sources.http_front import nginx_front
from funcatron_wf.workers.front_door import serve_front_door
from funcatron_wf.workers.func_folder import FuncFolder
from funcatron_wf.workers.route_cache import RouteCache
from funcatron_wf.workers.tron import tron_worker
from tests.conftest import free_port, python_runner, write_func_folder

HOST = "restart.local"
SPEC = f"""openapi: 3.0.3
info: {{title: restart, version: '1'}}
servers: [{{url: 'http://{HOST}/'}}]
paths:
  /slow:
    get:
      operationId: restart_ops.slow
      x-funcatron-timeout: 30
      responses: {{'200': {{description: ok}}}}
  /ping:
    get:
      operationId: restart_ops.ping
      responses: {{'200': {{description: ok}}}}
"""
CODE = """import asyncio

async def slow():
    await asyncio.sleep(3)
    return {"slept": 3}

def ping():
    return {"pong": True}
"""


@dataclass
class Stack:
    url: str
    temporal: ManagedProcess
    temporal_port: int


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    runtime = Path(tempfile.mkdtemp(prefix="funcatron-test-restart-"))
    runtime.chmod(0o755)  # nginx workers run unprivileged
    BlobStore(runtime / "blobs").prepare()
    ports = {name: free_port() for name in ("grpc", "ui", "http", "front", "door")}
    temporal = dev_server(
        port=ports["grpc"], ui_port=ports["ui"], http_port=ports["http"], runtime_dir=runtime,
        headless=True, db_file=runtime / "temporal.db",
    )  # fmt: skip
    temporal.start()
    folder = FuncFolder.load(write_func_folder(runtime / "restart", SPEC, {"restart_ops.py": CODE}))
    settings = Settings(
        port=ports["front"],
        temporal=f"127.0.0.1:{ports['grpc']}",
        temporal_http=f"127.0.0.1:{ports['http']}",
        blob_dir=runtime / "blobs",
        tron_http=f"127.0.0.1:{ports['door']}",
    )
    front = None
    try:
        client = await connect_when_ready(
            settings.temporal_address, still_starting=lambda: temporal.exit_code() is None
        )
        wait_until(lambda: port_accepts("127.0.0.1", ports["http"]), process=temporal, what="up")
        cache = RouteCache(client)
        with ThreadPoolExecutor(4) as executor:
            async with (
                tron_worker(client, cache=cache),
                serve_front_door(client, cache, "127.0.0.1", ports["door"]),
                python_runner(client, folder, executor),
            ):
                await ensure_registry(client)
                await register_func(client, folder.registration())
                front = nginx_front(settings, runtime).start()
                wait_until(
                    lambda: port_accepts("127.0.0.1", ports["front"]), process=front, what="up"
                )
                yield Stack(f"http://127.0.0.1:{ports['front']}", temporal, ports["grpc"])
    finally:
        if front is not None:
            front.stop()
        temporal.stop()
        shutil.rmtree(runtime, ignore_errors=True)


async def test_no_503_for_a_request_that_ran_and_503_for_one_that_could_not_start(
    stack: Stack,
) -> None:
    # The key makes the request id known, so the kill waits until it started.
    key = uuid.uuid4().hex
    request_id = idempotent_request_id(key, HOST, "GET", "/slow")
    client = await Client.connect(f"127.0.0.1:{stack.temporal_port}")
    async with httpx.AsyncClient(base_url=stack.url, timeout=90) as http:
        in_flight = asyncio.create_task(
            http.get("/slow", headers={"host": HOST, "idempotency-key": key})
        )
        deadline = time.monotonic() + 30
        while True:  # started (its Func sleeps 3 s)?
            try:
                await client.get_workflow_handle(request_id).describe()
                break
            except RPCError:
                assert time.monotonic() < deadline, "the request did not start"
                await asyncio.sleep(0.05)
        stack.temporal.stop_signal = signal.SIGKILL
        stack.temporal.stop()  # killed mid-request
        outage_started = time.monotonic()
        could_not_start = asyncio.create_task(http.get("/ping", headers={"host": HOST}))
        await asyncio.sleep(7)  # longer than the front door tries to start a request
        stack.temporal.start()
        answered = await in_flight
        refused = await could_not_start
        # and indeed it left no request behind
        status = await http.get(f"/_funcatron/requests/{refused.headers['x-request-id']}")
    assert status.status_code == 404
    assert (answered.status_code, answered.json()) == (200, {"slept": 3})
    assert refused.status_code == 503, refused.text
    assert refused.headers["retry-after"] == "1"
    assert "safe to retry" in refused.json()["detail"]
    assert time.monotonic() - outage_started < 60
