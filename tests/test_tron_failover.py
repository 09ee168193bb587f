"""Two Trons behind the real nginx front: one is SIGKILLed while four clients
loop, and the other takes over at once. Every request is answered 200, and
nearly all within a few seconds (the Trons' front doors are one nginx
upstream; a dead one's requests in flight move to the other after the 1 s
sticky and 2 s workflow task timeouts)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from funcatron_wf.deploy.processes import ManagedProcess, port_accepts, wait_until
from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.registry_client import register_func
from funcatron_wf.engine.settings import Settings
from funcatron_wf.sources.http_front import nginx_front
from funcatron_wf.workers.func_folder import FuncFolder
from tests.conftest import (
    STACK_NAMESPACE,
    TemporalServer,
    free_port,
    python_runner,
    start_worker,
    write_func_folder,
)

HOST = "failover.local"
SPEC = f"""openapi: 3.0.3
info: {{title: failover, version: '1'}}
servers: [{{url: 'http://{HOST}/'}}]
paths:
  /ping:
    get:
      operationId: failover_ops.ping
      responses: {{'200': {{description: ok}}}}
"""


@pytest.fixture
def runtime() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="funcatron-test-failover-"))
    path.chmod(0o755)  # nginx workers run unprivileged
    yield path
    shutil.rmtree(path, ignore_errors=True)


async def test_a_second_tron_takes_over_at_once(
    temporal_server: TemporalServer, runtime: Path
) -> None:
    BlobStore(runtime / "blobs").prepare()
    doors = [f"127.0.0.1:{free_port()}" for _ in range(2)]
    settings = Settings(
        namespace=STACK_NAMESPACE,
        port=free_port(),
        temporal=temporal_server.address,
        temporal_http=temporal_server.http_address,
        blob_dir=runtime / "blobs",
        tron_http=",".join(doors),
    )
    folder = FuncFolder.load(
        write_func_folder(
            runtime / "failover", SPEC, {"failover_ops.py": "def ping():\n    return {}\n"}
        )
    )
    processes: list[ManagedProcess] = []
    client = await Client.connect(temporal_server.address, namespace=STACK_NAMESPACE)
    try:
        for door in doors:
            processes.append(start_worker("tron", temporal_server, runtime, "--front-door", door))
        await register_func(client, folder.registration())
        processes.append(nginx_front(settings, runtime).start())
        wait_until(
            lambda: port_accepts("127.0.0.1", settings.port), process=processes[-1], what="up"
        )
        latencies: list[tuple[float, int]] = []
        stop = threading.Event()

        def client_loop() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{settings.port}", timeout=60) as http:
                while not stop.is_set():
                    sent = time.monotonic()
                    try:
                        status = http.get("/ping", headers={"host": HOST}).status_code
                    except httpx.HTTPError:
                        status = 0  # a lost request counts against the test, not for it
                    latencies.append((time.monotonic() - sent, status))

        with ThreadPoolExecutor(2) as executor:
            async with python_runner(client, folder, executor):
                threads = [threading.Thread(target=client_loop) for _ in range(4)]
                for thread in threads:
                    thread.start()
                try:
                    await asyncio.sleep(2)
                    os.kill(processes[0].pid, signal.SIGKILL)  # the first Tron and its front door
                    await asyncio.sleep(6)
                finally:
                    stop.set()
                    for thread in threads:  # the Runner runs on this loop: never block it
                        await asyncio.to_thread(thread.join)
    finally:
        for process in reversed(processes):
            process.stop()
    assert {status for _, status in latencies} == {200}
    # Nearly every request is answered within a few seconds of the kill. One
    # run in about fifteen has one request wait ~20 s (a server long-poll's
    # length): not yet understood, so bounded here and noted in the docs.
    # (With Temporal's 10 s defaults back, every request in flight at the kill
    # would wait 10 s: four of them.)
    waits = sorted(latency for latency, _ in latencies)
    slow = [wait for wait in waits if wait >= 4]
    assert len(slow) <= 1, f"requests slower than 4 s after a Tron died: {slow}"
    assert waits[-1] < 25, f"a request waited {waits[-1]:.1f} s after a Tron died"
