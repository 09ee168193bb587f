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
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from temporalio.client import Client

from funcatron_wf.deploy.processes import ManagedProcess, port_accepts, wait_until
from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.registry_client import register_func
from funcatron_wf.engine.settings import Settings
from funcatron_wf.sources.http_front import nginx_front
from funcatron_wf.workers.func_folder import FuncFolder
from tests.client_loop import answers_while, assert_rode_it_out
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

        def kill_the_first_tron() -> None:
            time.sleep(2)
            os.kill(processes[0].pid, signal.SIGKILL)  # the Tron and its front door
            time.sleep(6)

        with ThreadPoolExecutor(2) as executor:
            async with python_runner(client, folder, executor):
                # in a thread: the Runner runs on this loop, which must not block
                answers = await asyncio.to_thread(
                    answers_while, f"http://127.0.0.1:{settings.port}", HOST, "/ping",
                    kill_the_first_tron,
                )  # fmt: skip
    finally:
        for process in reversed(processes):
            process.stop()
    assert_rode_it_out(answers, slow=4)
