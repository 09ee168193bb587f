"""The Registry and RequestWorkflow on a real Temporal dev server, with the
real Tron and Runner workers running in this process."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from funcatron_wf.engine import registry_client
from funcatron_wf.engine.contracts import (
    REGISTRY_WORKFLOW_ID,
    ChainPlan,
    RegisteredFunc,
    RegistrySnapshot,
    RequestEnvelope,
    ResponseEnvelope,
    Route,
    RoutedRequest,
)
from funcatron_wf.engine.registry import RegistryWorkflow
from funcatron_wf.engine.registry_client import (
    RegistrationRefused,
    ensure_registry,
    read_registry,
    register_func,
)
from funcatron_wf.engine.request_workflow import RequestWorkflow, RoutedRequestWorkflow
from funcatron_wf.engine.starting import start_request
from funcatron_wf.workers import route_cache
from funcatron_wf.workers.front_door import serve_front_door
from funcatron_wf.workers.func_folder import FuncFolder
from funcatron_wf.workers.tron import tron_worker
from tests.conftest import free_port, python_runner, write_func_folder


@pytest.fixture(scope="module")
async def tron_queue(temporal_server) -> AsyncIterator[str]:
    client = await Client.connect(temporal_server.address)
    queue = f"tron-{uuid.uuid4()}"
    async with tron_worker(client, task_queue=queue):
        await ensure_registry(client, task_queue=queue)
        yield queue


def unique_func(host: str, name: str | None = None) -> RegisteredFunc:
    name = name or f"f{uuid.uuid4().hex[:8]}"
    return RegisteredFunc(
        name=name,
        sha=uuid.uuid4().hex * 2,
        task_queue=f"q.{name}",
        routes=[Route(host, "/v1", "GET", "/things/{id}", "things.get")],
    )


async def test_register_then_read(temporal_client: Client, tron_queue: str) -> None:
    func = unique_func(f"{uuid.uuid4().hex}.local")
    before = await read_registry(temporal_client)
    after = await register_func(temporal_client, func)
    assert after.generation == before.generation + 1
    assert func in (await read_registry(temporal_client)).funcs


async def test_conflicting_route_is_refused_and_nothing_changes(
    temporal_client: Client, tron_queue: str
) -> None:
    host = f"{uuid.uuid4().hex}.local"
    first = unique_func(host)
    await register_func(temporal_client, first)
    before = await read_registry(temporal_client)
    with pytest.raises(RegistrationRefused) as caught:
        await register_func(temporal_client, unique_func(host))
    assert f"GET {host}/v1/things/{{id}} is already served by Func {first.name!r}" in str(
        caught.value
    )
    assert await read_registry(temporal_client) == before


async def test_a_queue_bound_by_another_func_is_refused(
    temporal_client: Client, tron_queue: str
) -> None:
    queue = f"q-{uuid.uuid4().hex}"
    first, second = (
        unique_func(f"{uuid.uuid4().hex}.local"),
        unique_func(f"{uuid.uuid4().hex}.local"),
    )
    first.routes = [replace(route, queue=queue) for route in first.routes]
    second.routes = [replace(route, queue=queue) for route in second.routes]
    await register_func(temporal_client, first)
    with pytest.raises(RegistrationRefused, match=f"queue '{queue}' is already bound to Func"):
        await register_func(temporal_client, second)


async def test_a_chain_declared_by_another_func_is_refused(
    temporal_client: Client, tron_queue: str
) -> None:
    chain = ChainPlan(name=f"c-{uuid.uuid4().hex}", source="c.chain.yaml")
    first, second = (
        unique_func(f"{uuid.uuid4().hex}.local"),
        unique_func(f"{uuid.uuid4().hex}.local"),
    )
    first.chains = second.chains = [chain]
    await register_func(temporal_client, first)
    with pytest.raises(
        RegistrationRefused, match=f"chain '{chain.name}' is already declared by Func"
    ):
        await register_func(temporal_client, second)


async def test_reregistering_a_name_replaces_its_version(
    temporal_client: Client, tron_queue: str
) -> None:
    host = f"{uuid.uuid4().hex}.local"
    old = unique_func(host)
    new = unique_func(host, name=old.name)
    await register_func(temporal_client, old)
    snapshot = await register_func(temporal_client, new)
    assert [f.sha for f in snapshot.funcs if f.name == old.name] == [new.sha]


async def test_a_func_registered_after_the_tron_started_routes_at_once(
    temporal_client: Client, tron_queue: str, tmp_path: Path
) -> None:
    host = f"{uuid.uuid4().hex}.local"
    folder = write_func_folder(
        tmp_path / "late",
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n"
        f"servers: [{{url: 'http://{host}/'}}]\n"
        "paths:\n  /echo/{word}:\n    get:\n      operationId: late_ops.echo\n"
        "      parameters: [{name: word, in: path, required: true, schema: {type: string}}]\n"
        "      responses: {'200': {description: ok}}\n",
        {"late_ops.py": "def echo(word):\n    return {'echo': word}\n"},
    )
    func_folder = FuncFolder.load(folder)

    request = RequestEnvelope(
        request_id=uuid.uuid4().hex, source="test", host=host, method="GET", path="/echo/hi"
    )
    missing = await temporal_client.execute_workflow(
        RequestWorkflow.run, request, id=request.request_id, task_queue=tron_queue
    )
    assert missing.status == 404

    await register_func(temporal_client, func_folder.registration())
    with ThreadPoolExecutor(2) as executor:
        worker = python_runner(temporal_client, func_folder, executor)
        async with worker:
            request.request_id = uuid.uuid4().hex
            found: ResponseEnvelope = await temporal_client.execute_workflow(
                RequestWorkflow.run, request, id=request.request_id, task_queue=tron_queue
            )
    assert found.status == 200
    assert json.loads(found.body.data) == {"echo": "hi"}
    assert (found.func.name, found.func.sha) == ("late", func_folder.sha)


async def test_histories_replay_deterministically_without_the_sandbox(
    temporal_client: Client, tron_queue: str, tmp_path: Path
) -> None:
    """The Tron runs its workflows unsandboxed for speed; replaying real
    histories (a reply request, a no-reply one that continued-as-new, one
    routed before it started, and the Registry) is what keeps that honest."""
    host = f"{uuid.uuid4().hex}.local"
    folder = write_func_folder(
        tmp_path / "replayed",
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n"
        f"servers: [{{url: 'http://{host}/'}}]\n"
        "paths:\n  /ping:\n    get:\n      operationId: replayed_ops.ping\n"
        "      responses: {'200': {description: ok}}\n",
        {"replayed_ops.py": "def ping():\n    return {'pong': True}\n"},
    )
    func_folder = FuncFolder.load(folder)
    await register_func(temporal_client, func_folder.registration())
    histories = []
    with ThreadPoolExecutor(2) as executor:
        worker = python_runner(temporal_client, func_folder, executor)
        async with worker:
            for reply in (True, False):
                request = RequestEnvelope(
                    request_id=uuid.uuid4().hex,
                    source="test",
                    host=host,
                    method="GET",
                    path="/ping",
                    reply=reply,
                )
                handle = await temporal_client.start_workflow(
                    RequestWorkflow.run, request, id=request.request_id, task_queue=tron_queue
                )
                assert (await handle.result()).status == 200  # follows the continued run
                described = await temporal_client.get_workflow_handle(request.request_id).describe()
                runs = {handle.result_run_id, described.run_id}
                assert len(runs) == (1 if reply else 2)  # a no-reply request continued-as-new
                for run_id in runs:
                    histories.append(
                        await temporal_client.get_workflow_handle(
                            request.request_id, run_id=run_id
                        ).fetch_history()
                    )
            # and one routed before it started, as the Tron's front door does
            request.request_id, request.reply = uuid.uuid4().hex, True
            decision = await route_cache.RouteCache(temporal_client).decide(request)
            routed = await temporal_client.start_workflow(
                RoutedRequestWorkflow.run,
                RoutedRequest(request, decision),
                id=request.request_id,
                task_queue=tron_queue,
            )
            assert (await routed.result()).status == 200
            histories.append(await routed.fetch_history())
    histories.append(
        await temporal_client.get_workflow_handle(REGISTRY_WORKFLOW_ID).fetch_history()
    )
    replayer = Replayer(
        workflows=[RequestWorkflow, RoutedRequestWorkflow, RegistryWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    for history in histories:
        await replayer.replay_workflow(history)  # raises on any nondeterminism
    assert len(histories) == 5


async def test_the_tron_reads_the_whole_registry_only_when_it_changed(
    temporal_client: Client, tron_queue: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot_reads = []

    async def counting_read_registry(client: Client) -> RegistrySnapshot:
        snapshot_reads.append(1)
        return await read_registry(client)

    monkeypatch.setattr(registry_client, "read_registry", counting_read_registry)
    cache = route_cache.RouteCache(temporal_client, max_age=0.0)  # refresh before every request
    host = f"{uuid.uuid4().hex}.local"
    request = RequestEnvelope(
        request_id=uuid.uuid4().hex, source="test", host=host, method="GET", path="/v1/things/1"
    )
    assert (await cache.route(request)).answer.status == 404
    assert len(snapshot_reads) == 1  # the first refresh; the miss's refresh asked the generation
    assert (await cache.route(request)).answer.status == 404
    assert len(snapshot_reads) == 1

    func = unique_func(host)
    func.openapi = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": f"http://{host}/v1"}],
        "paths": {
            "/things/{id}": {
                "get": {
                    "operationId": "things.get",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
    }
    await register_func(temporal_client, func)
    decision = await cache.route(request)
    assert decision.answer is None and decision.operation_id == "things.get"
    assert len(snapshot_reads) == 2


def ping_func_folder(parent: Path, host: str) -> FuncFolder:
    folder = write_func_folder(
        parent / f"ping-{host.split('.')[0][:8]}",
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n"
        f"servers: [{{url: 'http://{host}/'}}]\n"
        "paths:\n  /ping:\n    get:\n      operationId: ping_ops.ping\n"
        "      responses: {'200': {description: ok}}\n",
        {"ping_ops.py": "def ping():\n    return {'pong': True}\n"},
    )
    return FuncFolder.load(folder)


async def test_the_front_door_routes_then_starts_the_request(
    temporal_client: Client, tron_queue: str, tmp_path: Path
) -> None:
    host = f"{uuid.uuid4().hex}.local"
    func_folder = ping_func_folder(tmp_path, host)
    await register_func(temporal_client, func_folder.registration())
    port = free_port()
    cache = route_cache.RouteCache(temporal_client)

    def envelope(path: str, *, reply: bool = True) -> dict:
        return {"request_id": uuid.uuid4().hex, "source": "test", "host": host,
                "method": "GET", "path": path, "reply": reply}  # fmt: skip

    with ThreadPoolExecutor(2) as executor:
        worker = python_runner(temporal_client, func_folder, executor)
        async with (
            worker,
            serve_front_door(temporal_client, cache, "127.0.0.1", port, task_queue=tron_queue),
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http,
        ):
            started = await http.post("/requests", json=(sent := envelope("/ping")))
            assert started.status_code == 201  # the front then waits for the close event
            handle = temporal_client.get_workflow_handle(sent["request_id"])
            assert (await handle.describe()).workflow_type == "RoutedRequest"
            result = await handle.result()
            assert result["status"] == 200
            assert json.loads(result["body"]["data"]) == {"pong": True}

            again = await http.post("/requests", json=sent)
            assert again.status_code == 201  # started before: the front waits for that run

            missing = await http.post("/requests", json=(nowhere := envelope("/nowhere")))
            assert missing.status_code == 201
            answer = await temporal_client.get_workflow_handle(nowhere["request_id"]).result()
            assert answer["status"] == 404

            accepted = await http.post("/requests", json=(later := envelope("/ping", reply=False)))
            assert accepted.status_code == 202
            result = await temporal_client.get_workflow_handle(later["request_id"]).result()
            assert result["status"] == 200  # it ran on without the client

            # not an envelope: not started here, so the HTTP front starts it itself
            refused = await http.post("/requests", json={"request_id": "x"})
            assert refused.status_code == 503


async def test_a_request_id_runs_once_however_often_it_is_started(
    temporal_client: Client, tron_queue: str, tmp_path: Path
) -> None:
    host = f"{uuid.uuid4().hex}.local"
    calls = tmp_path / "calls"
    folder = write_func_folder(
        tmp_path / "once",
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n"
        f"servers: [{{url: 'http://{host}/'}}]\n"
        "paths:\n  /count:\n    post:\n      operationId: once_ops.count\n"
        "      responses: {'200': {description: ok}}\n",
        {
            "once_ops.py": "import pathlib\n"
            f"CALLS = pathlib.Path({str(calls)!r})\n"
            "def count(request):\n"
            "    with CALLS.open('a') as f:\n"
            "        f.write(request.request_id + '\\n')\n"
            "    return {'calls': len(CALLS.read_text().splitlines())}\n"
        },
    )
    func_folder = FuncFolder.load(folder)
    await register_func(temporal_client, func_folder.registration())
    request = RequestEnvelope(
        request_id=uuid.uuid4().hex, source="test", host=host, method="POST", path="/count"
    )
    with ThreadPoolExecutor(2) as executor:
        async with python_runner(temporal_client, func_folder, executor):
            first = await start_request(temporal_client, request, task_queue=tron_queue)
            while_running = await start_request(temporal_client, request, task_queue=tron_queue)
            answers = [await first.response(), await while_running.response()]
            # after it closed, even with a decision in hand (as a front door has)
            decision = await route_cache.RouteCache(temporal_client).decide(request)
            after = await start_request(temporal_client, request, decision, task_queue=tron_queue)
            answers.append(await after.response())
    assert (first.first_start, while_running.first_start, after.first_start) == (
        True,
        False,
        False,
    )
    assert {json.loads(answer.body.data)["calls"] for answer in answers} == {1}
    assert calls.read_text().splitlines() == [request.request_id]
