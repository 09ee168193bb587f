"""The real nginx front with the Tron's front door down: requests still get
answered, because the front then starts RequestWorkflow itself through
Temporal's HTTP API and the workflow routes the request on its own."""

from __future__ import annotations

import json
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from funcatron_wf.deploy.processes import port_accepts, wait_until
from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.registry_client import ensure_registry, register_func
from funcatron_wf.engine.settings import Settings
from funcatron_wf.sources.http_front import nginx_front
from funcatron_wf.workers.func_folder import FuncFolder
from funcatron_wf.workers.tron import tron_worker
from tests.conftest import (
    STACK_NAMESPACE,
    TemporalServer,
    free_port,
    python_runner,
    write_func_folder,
)


@pytest.fixture
async def front_with_its_front_door_down(
    temporal_server: TemporalServer,
) -> AsyncIterator[tuple[str, str, Client]]:
    runtime_dir = Path(tempfile.mkdtemp(prefix="funcatron-test-fallback-"))
    runtime_dir.chmod(0o755)  # nginx workers run unprivileged
    BlobStore(runtime_dir / "blobs").prepare()
    host = f"{uuid.uuid4().hex[:12]}.local"
    folder = FuncFolder.load(
        write_func_folder(
            runtime_dir / "fallback",
            "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n"
            f"servers: [{{url: 'http://{host}/'}}]\n"
            "paths:\n  /ping:\n    get:\n      operationId: fallback_ops.ping\n"
            "      responses: {'200': {description: ok}}\n",
            {"fallback_ops.py": "def ping():\n    return {'pong': True}\n"},
        )
    )
    settings = Settings(
        namespace=STACK_NAMESPACE,
        port=free_port(),
        temporal=temporal_server.address,
        temporal_http=temporal_server.http_address,
        blob_dir=runtime_dir / "blobs",
        tron_http=f"127.0.0.1:{free_port()}",  # nothing listens there
    )
    client = await Client.connect(temporal_server.address, namespace=STACK_NAMESPACE)
    front = nginx_front(settings, runtime_dir).start()
    try:
        with ThreadPoolExecutor(2) as executor:
            runner = python_runner(client, folder, executor)
            async with tron_worker(client), runner:
                await ensure_registry(client)
                await register_func(client, folder.registration())
                wait_until(
                    lambda: port_accepts("127.0.0.1", settings.port),
                    process=front,
                    what="listening",
                )
                yield f"http://127.0.0.1:{settings.port}", host, client
    finally:
        front.stop()
        shutil.rmtree(runtime_dir, ignore_errors=True)


async def test_requests_are_answered_without_the_front_door(
    front_with_its_front_door_down: tuple[str, str, Client],
) -> None:
    base_url, host, client = front_with_its_front_door_down
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        response = await http.get("/ping", headers={"host": host})
    assert response.status_code == 200
    assert json.loads(response.text) == {"pong": True}
    request_id = response.headers["x-request-id"]
    described = await client.get_workflow_handle(request_id).describe()
    assert described.workflow_type == "RequestWorkflow"  # routed inside the workflow
    # the request's trace context, where Temporal's tracing interceptor reads it
    history = await client.get_workflow_handle(request_id).fetch_history()
    header = history.events[0].workflow_execution_started_event_attributes.header
    carrier = client.data_converter.payload_converter.from_payload(header.fields["_tracer-data"])
    assert carrier == {"traceparent": f"00-{request_id}-{request_id[16:]}-01"}
