"""The fast path (workers/runner_door.py): the Tron's front door hands a
routed single-operation request to a Runner of the version, which starts
the request's workflow on its own task queue and runs the operation in the
first workflow task. Real Tron (with its front door) and Runner processes
on the session's Temporal server; requests are offered to the front door
as the nginx front offers them (the nginx side, and the whole calling
contract on this path: tests/test_http_contract.py, which runs with the
fast path on, as every platform does by default)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.converter import value_to_type

from funcatron_wf.deploy.processes import ManagedProcess
from funcatron_wf.deploy.runner_load import RunnerLoads
from funcatron_wf.engine.contracts import (
    FAST_REQUEST_WORKFLOW_TYPE,
    FRONT_DOOR_ACCEPTED,
    FRONT_DOOR_ANSWERED,
    FRONT_DOOR_PATH,
    FRONT_DOOR_STARTED,
    ROUTED_REQUEST_WORKFLOW_TYPE,
    TRON_TASK_QUEUE,
    Deployment,
    RegistrySnapshot,
    RegistryState,
    RequestEnvelope,
    ResponseEnvelope,
    RunnerDoor,
)
from funcatron_wf.engine.invoking import build_request
from funcatron_wf.engine.registry import DOOR_LEASE, RegistryWorkflow
from funcatron_wf.engine.registry_client import (
    close_runner_door,
    open_runner_door,
    read_registry_state,
    register_func,
)
from funcatron_wf.engine.request_history import fetch_story
from funcatron_wf.workers.func_folder import FuncFolder
from funcatron_wf.workers.route_cache import fast_path_doors
from tests.conftest import REPO, STACK_NAMESPACE, TemporalServer, free_port, start_worker

CONTRACT = REPO / "tests" / "funcs" / "contract"
STATE = Path("/tmp/funcatron-contract-state")
HOST = "contract.local"


class Stack:
    """A Tron with its front door, and the contract Func's Runners."""

    def __init__(
        self, temporal: TemporalServer, tmp_path: Path, client: Client, front_door: str
    ) -> None:
        self.temporal, self.tmp_path, self.client = temporal, tmp_path, client
        self.processes: list[ManagedProcess] = []
        self.front_door = front_door
        self.task_queue = ""

    def runner(self, *extra: str, **env: str) -> ManagedProcess:
        saved = {name: os.environ.get(name) for name in env}
        os.environ.update(env)
        try:
            process = start_worker("runner", self.temporal, self.tmp_path, str(CONTRACT), *extra)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        self.processes.append(process)
        return process

    async def doors_known(self, count: int = 1) -> list[RunnerDoor]:
        """Once ``count`` doors are in the Registry and the Tron has seen them
        (its view refreshes every 0.5 s)."""
        doors = await until(lambda: _count_at_least(self.doors, count), "the Runners' doors")
        await asyncio.sleep(1.0)
        return doors

    async def doors(self) -> list[RunnerDoor]:
        state = await read_registry_state(self.client)
        return [door for door in state.doors if self.task_queue in door.task_queues]

    async def offer(self, request: RequestEnvelope) -> tuple[int, Any]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://{self.front_door}{FRONT_DOOR_PATH}", json=asdict(request)
            ) as reply,
        ):
            return reply.status, await reply.json(content_type=None)


@pytest.fixture
async def stack(temporal_server: TemporalServer, tmp_path: Path) -> AsyncIterator[Stack]:
    front_door = f"127.0.0.1:{free_port()}"
    tron = start_worker("tron", temporal_server, tmp_path, "--front-door", front_door)
    client = await Client.connect(temporal_server.address, namespace=STACK_NAMESPACE)
    stack = Stack(temporal_server, tmp_path, client, front_door)
    stack.processes.append(tron)
    try:
        func = FuncFolder.load(CONTRACT).registration()
        stack.task_queue = func.task_queue
        await register_func(client, func)
        yield stack
    finally:
        # doors of Runners killed here would send the next test's requests
        # to a dead address first (harmless, but not what it measures); the
        # Registry runs on the Tron, so before it stops
        for door in await stack.doors():
            await close_runner_door(client, door)
        for process in reversed(stack.processes):
            process.stop()


async def until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := await check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)
    return found


async def history_types(client: Client, request_id: str) -> list[int]:
    history = await client.get_workflow_handle(request_id).fetch_history()
    return [event.event_type for event in history.events]


async def test_a_single_operation_runs_in_one_workflow_task_on_the_runner(stack: Stack) -> None:
    stack.runner()
    await stack.doors_known()
    request = build_request("GET", "/c/returns/dict", host=HOST)

    status, reply = await stack.offer(request)

    assert status == FRONT_DOOR_ANSWERED, reply
    response = value_to_type(ResponseEnvelope, reply)
    assert response.body is not None
    assert (response.status, json.loads(response.body.data)) == (200, {"a": 1})
    assert response.request_id == request.request_id
    handle = stack.client.get_workflow_handle(request.request_id)
    described = await handle.describe()
    assert described.workflow_type == FAST_REQUEST_WORKFLOW_TYPE
    assert described.task_queue == stack.task_queue  # the version's own
    # one workflow task: the start handed it over (eager), the operation ran
    # in it (a local activity's marker), the workflow completed with it
    types = await history_types(stack.client, request.request_id)
    assert types.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in types
    assert types[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED
    history = await handle.fetch_history()
    (marker,) = [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
    # the Temporal UI names the operation from the marker's data
    assert b"contract_ops.returns" in marker.SerializeToString()
    # the same answer is in history: what the status URL serves
    assert (await handle.result(rpc_timeout=timedelta(seconds=10)))["status"] == 200
    # and `funcatron-wf show` tells it: the request, its decision, the operation
    story = await fetch_story(stack.client, request.request_id)
    assert story.workflow_type == FAST_REQUEST_WORKFLOW_TYPE
    assert story.request == request and story.decision is not None
    (step,) = story.steps
    assert (step.name, step.outcome, step.attempt) == ("contract_ops.returns", "completed", 1)
    assert story.response is not None and story.response.status == 200


async def test_a_no_reply_request_is_accepted_and_runs_on_the_runner(stack: Stack) -> None:
    stack.runner()
    await stack.doors_known()
    request = build_request("POST", "/c/later?seconds=0.2", host=HOST)

    status, _ = await stack.offer(request)

    assert status == FRONT_DOOR_ACCEPTED
    handle = stack.client.get_workflow_handle(request.request_id, result_type=ResponseEnvelope)
    result = await handle.result()
    assert result.status == 200
    assert (await handle.describe()).workflow_type == FAST_REQUEST_WORKFLOW_TYPE
    assert (STATE / request.request_id).read_text() == "done"


async def test_a_no_reply_request_offered_again_is_accepted_again(stack: Stack) -> None:
    """As on the usual path: a second start of the id (a retry with the same
    Idempotency-Key) is answered 202, never run twice."""
    stack.runner()
    await stack.doors_known()
    request = build_request("POST", "/c/later?seconds=0.2", host=HOST)
    assert (await stack.offer(request))[0] == FRONT_DOOR_ACCEPTED
    assert (await stack.offer(request))[0] == FRONT_DOOR_ACCEPTED
    handle = stack.client.get_workflow_handle(request.request_id, result_type=ResponseEnvelope)
    assert (await handle.result()).status == 200


async def test_a_full_runner_turns_the_next_request_to_the_usual_path(stack: Stack) -> None:
    """One call at a time (`--concurrency 1`): while it runs, the door
    declines the next request, which the front door starts on the Trons'
    queue; its call waits for the Runner's activity slot there."""
    stack.runner("--concurrency", "1")
    await stack.doors_known()
    first = build_request("GET", "/c/pid?seconds=1", host=HOST)
    offered = asyncio.create_task(stack.offer(first))
    await until(lambda: _glob(STATE, f"pid-{first.request_id}-*"), "the first call to start")
    second = build_request("GET", "/c/returns/dict", host=HOST)

    assert (await stack.offer(second))[0] == FRONT_DOOR_STARTED
    assert (await offered)[0] == FRONT_DOOR_ANSWERED
    handle = stack.client.get_workflow_handle(second.request_id, result_type=ResponseEnvelope)
    assert (await handle.result()).status == 200
    assert (await handle.describe()).workflow_type == ROUTED_REQUEST_WORKFLOW_TYPE
    first_run = stack.client.get_workflow_handle(first.request_id)
    assert (await first_run.describe()).workflow_type == FAST_REQUEST_WORKFLOW_TYPE


async def test_a_runner_killed_mid_call_loses_nothing(stack: Stack) -> None:
    """Its workflow task times out (2 s) and another Runner of the version
    runs the call again; the front door, losing the first Runner, finds the
    request started and says so, so the front waits for its close event."""
    runners = [stack.runner(), stack.runner()]
    await stack.doors_known(2)
    request = build_request("GET", "/c/pid?seconds=2", host=HOST)

    offered = asyncio.create_task(stack.offer(request))
    started = await until(
        lambda: _glob(STATE, f"pid-{request.request_id}-*"), "the call to start", timeout=30
    )
    first_pid = int(started[0].name.rsplit("-", 1)[1])
    os.kill(first_pid, signal.SIGKILL)
    killed_at = time.monotonic()
    status, reply = await offered

    assert status == FRONT_DOOR_STARTED, reply
    handle = stack.client.get_workflow_handle(request.request_id, result_type=ResponseEnvelope)
    response = await handle.result()
    survivor = next(runner.pid for runner in runners if runner.pid != first_pid)
    assert response.status == 200
    assert json.loads(response.body.data)["pid"] == survivor
    # the workflow task's 2 s timeout, then the call's 2 s again
    assert time.monotonic() - killed_at < 2 + 2 + 3
    assert (await handle.describe()).workflow_type == FAST_REQUEST_WORKFLOW_TYPE


async def test_a_door_nobody_answers_costs_a_request_nothing(stack: Stack) -> None:
    """A Runner killed before it closed its door: the request is started the
    usual way (on the Trons' queue) and answered."""
    stack.runner(FUNCATRON_FAST_PATH="false")  # serves the version, opens no door
    dead = RunnerDoor(f"127.0.0.1:{free_port()}", [stack.task_queue])
    await open_runner_door(stack.client, dead)
    await asyncio.sleep(1.5)  # the Tron's view refreshes every 0.5 s
    try:
        for _ in range(2):
            request = build_request("GET", "/c/returns/str", host=HOST)
            status, _ = await stack.offer(request)
            assert status == FRONT_DOOR_STARTED
            handle = stack.client.get_workflow_handle(
                request.request_id, result_type=ResponseEnvelope
            )
            assert (await handle.result()).status == 200
            described = await handle.describe()
            assert described.workflow_type == ROUTED_REQUEST_WORKFLOW_TYPE
            assert described.task_queue == TRON_TASK_QUEUE
    finally:
        await close_runner_door(stack.client, dead)


async def test_a_runner_reports_its_load_and_closes_its_door_when_it_stops(
    stack: Stack,
) -> None:
    """What the autoscaler reads for a pool whose calls never wait in its
    task queue (deploy/runner_load.py)."""
    runner = stack.runner()
    doors = await stack.doors_known()
    loads = RunnerLoads()
    try:
        assert (await loads.read(doors))[stack.task_queue].in_flight == 0
        request = build_request("GET", "/c/pid?seconds=1.5", host=HOST)
        offered = asyncio.create_task(stack.offer(request))
        await until(lambda: _glob(STATE, f"pid-{request.request_id}-*"), "the call to start")
        assert (await loads.read(doors))[stack.task_queue].in_flight == 1
        assert (await offered)[0] == FRONT_DOOR_ANSWERED
        after = (await loads.read(doors))[stack.task_queue]
    finally:
        await loads.close()
    assert after.in_flight == 0
    assert after.rate > 0
    assert after.service_time is not None and 1.4 < after.service_time < 3

    runner.stop()  # SIGTERM: the door closes before the Runner drains
    assert await stack.doors() == []


def test_a_door_not_renewed_expires_at_the_next_change_of_the_doors() -> None:
    registry = RegistryWorkflow(RegistryState())
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    old = (now - DOOR_LEASE - timedelta(seconds=1)).isoformat(timespec="seconds")
    fresh = (now - DOOR_LEASE + timedelta(seconds=5)).isoformat(timespec="seconds")
    registry._doors = {
        "10.0.0.1:1": RunnerDoor("10.0.0.1:1", ["q"], old),
        "10.0.0.2:2": RunnerDoor("10.0.0.2:2", ["q"], fresh),
    }
    assert registry._drop_expired_doors(now) is True
    assert list(registry._doors) == ["10.0.0.2:2"]
    assert registry._drop_expired_doors(now) is False


async def _count_at_least(doors: Callable[[], Any], n: int) -> list[RunnerDoor] | None:
    found = await doors()
    return found if len(found) >= n else None


async def _glob(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.glob(pattern))


def test_a_rate_limited_version_and_a_stale_door_take_the_usual_path() -> None:
    """Temporal holds a rate limit where it dispatches activity tasks; the
    fast path has none, so such a version's requests are not offered to its
    Runners (`scale --rate-limit` as much as x-funcatron-scale)."""
    func = FuncFolder.load(CONTRACT).registration()
    limited = dataclasses.replace(func, scale=dataclasses.replace(func.scale, rate_limit=5.0))
    now = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    renewed = now.isoformat(timespec="seconds")
    door = RunnerDoor("127.0.0.1:1", [func.task_queue], renewed)
    assert fast_path_doors(RegistrySnapshot(funcs=[func], doors=[door]), now) == {
        func.task_queue: ["127.0.0.1:1"]
    }
    assert fast_path_doors(RegistrySnapshot(funcs=[limited], doors=[door]), now) == {}
    # a door its Runner stopped renewing (killed) is not offered requests
    later = now + DOOR_LEASE + timedelta(seconds=1)
    assert fast_path_doors(RegistrySnapshot(funcs=[func], doors=[door]), later) == {}
    # `scale --rate-limit` on the Func reaches the snapshot the Trons route on
    registry = RegistryWorkflow(RegistryState())
    registry._deployments = {
        func.name: Deployment(name=func.name, versions=[func], live=func.sha, rate_limit=2.0)
    }
    (routed,) = registry.snapshot().funcs
    assert routed.scale.rate_limit == 2.0
