"""A Runner's door: the fast path for single-operation requests.

The Tron's front door routes a request, then offers it here, to a Runner of
the version it chose (the doors are in the Registry: each Runner opens its
own when it starts, renews it, and closes it when it stops). The Runner
starts the request's workflow, FastRequest, on the version's task queue
with eager start: the server hands the first workflow task back in the
start reply, the operation runs in it as a local activity, and the workflow
completes with that task. Two calls to the server instead of the usual path's
workflow task dispatch, activity dispatch and completion, second workflow
task and history long-poll. The answer comes back here from the workflow
itself (``Answers``), not from history: as the workflow returns, while its
task's completion is on its way to the server. Should that completion never
land (the server out of reach that instant, this Runner killed), the task
runs again on another Runner and so does the operation: a Func runs at least
once on every path, and keys its side effects on the request id (README).

Replies (engine/contracts.py, RUNNER_DOOR_*): the response envelope;
"started" when the answer takes longer than the caller waits (it then waits
for the close event, as on the usual path); "accepted" for a no-reply
request; "started before" for an id that ran already; anything else means
not started here, and the front door starts the request the usual way. A
request id starts once whatever the path (engine/starting.py), so a caller
that lost sight of this Runner mid-call may always fall back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from temporalio import workflow
from temporalio.client import Client
from temporalio.converter import value_to_type
from temporalio.service import RPCError
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from funcatron_wf.engine.contracts import (
    FAST_REQUEST_WORKFLOW_TYPE,
    RUNNER_DOOR_ACCEPTED,
    RUNNER_DOOR_ANSWERED,
    RUNNER_DOOR_LOAD_PATH,
    RUNNER_DOOR_PATH,
    RUNNER_DOOR_STARTED,
    RUNNER_DOOR_STARTED_BEFORE,
    RUNNER_DOOR_WAIT_HEADER,
    ResponseEnvelope,
    RoutedRequest,
    RunnerDoor,
)
from funcatron_wf.engine.registry import DOOR_RENEWAL
from funcatron_wf.engine.registry_client import close_runner_door, open_runner_door
from funcatron_wf.engine.starting import start_request
from funcatron_wf.engine.tracing import request_span
from funcatron_wf.workers.log_context import request_context

logger = logging.getLogger(__name__)

DEFAULT_WAIT = 3.0  # seconds, when the caller does not say (the Tron's front door does)
CLOSE_TIMEOUT = 5.0  # seconds a stopping Runner tries to close its door


class Answers:
    """Requests this Runner started and waits to answer, by request id. The
    workflow hands its result over as it returns (``WorkflowAnswers``): it
    runs on a workflow task thread, so the hand-over goes through the loop."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[ResponseEnvelope]] = {}

    @contextlib.contextmanager
    def expect(self, request_id: str) -> Any:
        future: asyncio.Future[ResponseEnvelope] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        try:
            yield future
        finally:
            self._waiting.pop(request_id, None)

    def deliver(self, request_id: str, response: ResponseEnvelope) -> None:
        future = self._waiting.get(request_id)
        if future is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed: a Runner stopping
                future.get_loop().call_soon_threadsafe(_settle, future, response)

    def interceptor(self) -> Interceptor:
        return WorkflowAnswers(self)


def _settle(future: asyncio.Future[ResponseEnvelope], response: ResponseEnvelope) -> None:
    if not future.done():
        future.set_result(response)


class WorkflowAnswers(Interceptor):
    """Hands each FastRequest's result to the door that waits for it."""

    def __init__(self, answers: Answers) -> None:
        self._answers = answers

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        answers = self._answers

        class Deliver(WorkflowInboundInterceptor):
            async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
                result = await super().execute_workflow(input)
                info = workflow.info()
                if (
                    info.workflow_type == FAST_REQUEST_WORKFLOW_TYPE
                    and isinstance(result, ResponseEnvelope)
                    and not workflow.unsafe.is_replaying()
                ):
                    answers.deliver(info.workflow_id, result)
                return result

        return Deliver


@dataclass
class QueueLoad:
    """One task queue's calls on this Runner, for the autoscaler (what the
    queue's backlog no longer shows once calls take the fast path) and for
    the door (a full Runner turns requests away): the calls running now on
    either path; the fast path's calls finished, and their time."""

    in_flight: int = 0
    calls: int = 0
    busy_seconds: float = 0.0


@dataclass
class RunnerLoad:
    queues: dict[str, QueueLoad] = field(default_factory=dict)

    def in_flight(self, task_queue: str) -> int:
        load = self.queues.get(task_queue)
        return load.in_flight if load is not None else 0

    @contextlib.contextmanager
    def call(self, task_queue: str, *, fast: bool) -> Any:
        """A call running; ``fast``: on the fast path (the usual path's are
        in the queue's own rates already)."""
        load = self.queues.setdefault(task_queue, QueueLoad())
        load.in_flight += 1
        started = time.monotonic()
        try:
            yield
        finally:
            load.in_flight -= 1
            if fast:
                load.calls += 1
                load.busy_seconds += time.monotonic() - started


@dataclass
class DoorQueue:
    """A task queue this door takes requests for, and how many at once."""

    concurrency: int
    admitted: int = 0


def runner_door_app(
    client: Client,
    answers: Answers,
    load: RunnerLoad,
    queues: dict[str, DoorQueue],
    *,
    summaries: bool = True,
    open_for_requests: Callable[[], bool] = lambda: True,
) -> web.Application:
    to_json = client.data_converter.payload_converter

    async def run(http_request: web.Request) -> web.Response:
        try:
            routed = value_to_type(RoutedRequest, await http_request.json())
            wait = float(http_request.headers.get(RUNNER_DOOR_WAIT_HEADER, DEFAULT_WAIT))
        except Exception as err:  # not ours to answer: the front door starts it the usual way
            return _declined(f"unreadable request ({err})", status=400)
        request, decision = routed.request, routed.decision
        target = decision.one_operation()
        queue = queues.get(target.task_queue) if target is not None else None
        if target is None or queue is None:
            return _declined("not a single operation of a version this Runner serves", 400)
        if not open_for_requests():
            return _declined("stopping")
        # full: the door's requests not yet answered, or the calls running on
        # either path (a no-reply or a long call runs on after its answer)
        if max(queue.admitted, load.in_flight(target.task_queue)) >= queue.concurrency:
            return _declined("busy")
        queue.admitted += 1
        try:
            with (
                request_context(request.request_id),
                request_span("runner door", request),
                answers.expect(request.request_id) as answer,
            ):
                try:
                    started = await start_request(
                        client, request, decision, task_queue=target.task_queue,
                        eager=True, summary=summaries, fast=True,
                    )  # fmt: skip
                except RPCError as err:
                    logger.warning("request %s not started here (%s)", request.request_id, err)
                    return _declined("not started")
                if not started.waits_for_reply:  # the first start, or one before it
                    return web.json_response({}, status=RUNNER_DOOR_ACCEPTED)
                if not started.first_start:
                    return web.json_response({}, status=RUNNER_DOOR_STARTED_BEFORE)
                try:
                    response = await asyncio.wait_for(answer, wait)
                except TimeoutError:  # still running (here, or on another Runner)
                    return web.json_response({}, status=RUNNER_DOOR_STARTED)
                return web.Response(
                    status=RUNNER_DOOR_ANSWERED,
                    body=to_json.to_payload(response).data,
                    content_type="application/json",
                )
        finally:
            queue.admitted -= 1

    async def report_load(_: web.Request) -> web.Response:
        return web.json_response(
            {
                queue: {
                    "in_flight": each.in_flight,
                    "calls": each.calls,
                    "busy_seconds": round(each.busy_seconds, 6),
                }
                for queue, each in load.queues.items()
            }  # fmt: skip
        )

    # bodies over the inline limit travel as blob refs, as to the front door
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post(RUNNER_DOOR_PATH, run)
    app.router.add_get(RUNNER_DOOR_LOAD_PATH, report_load)
    return app


def _declined(why: str, status: int = 503) -> web.Response:
    return web.Response(status=status, text=json.dumps({"declined": why}))


@contextlib.asynccontextmanager
async def serve_runner_door(
    client: Client,
    answers: Answers,
    load: RunnerLoad,
    queues: dict[str, DoorQueue],
    host: str,
    *,
    summaries: bool = True,
) -> AsyncIterator[RunnerDoor]:
    """Listen on ``host`` (a port of the system's choosing), open the door in
    the Registry and renew it while the block runs; close it first when the
    block ends, so no request is sent here while the Runner drains."""
    state = {"open": True}
    app = runner_door_app(
        client, answers, load, queues, summaries=summaries, open_for_requests=lambda: state["open"]
    )
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    door = RunnerDoor(f"[{host}]:{port}" if ":" in host else f"{host}:{port}", sorted(queues))

    async def opened() -> bool:
        try:
            await asyncio.wait_for(open_runner_door(client, door), CLOSE_TIMEOUT)
            return True
        except Exception as err:  # Temporal out of reach: requests take the usual path
            logger.warning("cannot open the fast-path door %s: %s", door.address, err)
            return False

    async def renew_forever(first: float) -> None:
        every = first
        while True:
            await asyncio.sleep(every)
            every = DOOR_RENEWAL.total_seconds() if await opened() else 1.0

    # listed before the Runner says it is ready; the Trons see it within a second
    listed = await opened()
    logger.info("fast-path door on %s for %s", door.address, ", ".join(door.task_queues))
    renewing = asyncio.create_task(renew_forever(DOOR_RENEWAL.total_seconds() if listed else 1.0))
    try:
        yield door
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing  # a renewal in flight must not list the door again
        state["open"] = False
        try:
            await asyncio.wait_for(close_runner_door(client, door), CLOSE_TIMEOUT)
        except Exception as err:  # it expires on its own (engine/registry.py, DOOR_LEASE)
            logger.warning("cannot close the fast-path door %s: %s", door.address, err)
        await runner.cleanup()
