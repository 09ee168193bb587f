"""The Runner: serves the task queues of Func versions and calls their
operations through a language host (workers/hosts.py).

Each operation is an activity named by its operationId; one dynamic activity
per Func version dispatches on that name, so a Func's operations need no
registration of their own. Everything that is the same for every language
lives here: heartbeats (a Runner that dies loses nothing: its call is retried
on another), bodies read out of and written into the blob store, the reply
checked against the spec as registered, the logging context, and a Func's
exception turned into a 500 (or, for an operation marked
``x-funcatron-retry``, into an error Temporal retries).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from funcatron_wf.engine.blobs import BlobStore, body_bytes
from funcatron_wf.engine.contracts import (
    BLOB_STORE_FAILED,
    DEFAULT_INLINE_BODY_MAX,
    FUNC_ERROR,
    HOST_LOST,
    OPERATION_NOT_FOUND,
    FuncCall,
    RegisteredFunc,
    ResponseEnvelope,
    problem_response,
    timed_out_response,
)
from funcatron_wf.engine.registry_client import registered_func
from funcatron_wf.engine.request_workflow import FastRequestWorkflow
from funcatron_wf.engine.spec_store import SpecStore, registered_spec
from funcatron_wf.engine.specs import replies_json_only
from funcatron_wf.engine.tracing import func_span
from funcatron_wf.engine.validation import OperationValidator, response_violations
from funcatron_wf.workers.func_folder import folder_language, folder_sha, func_name_for
from funcatron_wf.workers.hosts import FuncRaised, HostCall, HostLost, LanguageHost, body_kind
from funcatron_wf.workers.jvm_host import jvm_host
from funcatron_wf.workers.log_context import capture_func_output, request_context
from funcatron_wf.workers.node_host import node_host
from funcatron_wf.workers.python_host import PythonHost
from funcatron_wf.workers.runaway_funcs import (
    AbandonedCalls,
    exit_if_threads_stuck,
    stop_when_stuck,
    watch_the_loop,
)
from funcatron_wf.workers.runner_door import (
    Answers,
    DoorQueue,
    RunnerLoad,
    serve_runner_door,
)
from funcatron_wf.workers.serving import STICKY_TIMEOUT, serve_until_signalled

logger = logging.getLogger(__name__)

# threads for the Funcs' calls, made as calls need them; each version's
# pool takes its x-funcatron-scale `concurrency` at once
MAX_CALL_THREADS = 1024
HEARTBEATS_PER_TIMEOUT = 5  # a heartbeat every fifth of the Func's heartbeat timeout


@dataclass
class ServedFunc:
    """A Func version this Runner serves: its Registry record and its code."""

    func: RegisteredFunc
    host: LanguageHost


class BlobWriteError(Exception):
    """A reply body the blob store could not take (its disk is full, say)."""


@dataclass
class BodyStore:
    """Where bodies too large to travel inline go (None: nowhere; a large body is an error)."""

    blobs: BlobStore | None = None
    inline_body_max: int = DEFAULT_INLINE_BODY_MAX

    def read(self, call: FuncCall, *, text_as_json: bool = False) -> HostCall:
        body = call.request.body
        if body is None or call.form_body is not None:  # a form arrives parsed
            return HostCall(call, text_as_json=text_as_json)
        content_type = (call.request.headers or {}).get("content-type", "").lower()
        return HostCall(
            call, body_bytes(body, self.blobs), body_kind(body, content_type), text_as_json
        )

    def offload(self, response: ResponseEnvelope) -> None:
        """A reply body over the inline limit goes to the blob store, not into Temporal."""
        body = response.body
        if body is None or body.encoding == "ref" or len(body.data) <= self.inline_body_max:
            return
        if self.blobs is None:
            raise ValueError("the reply is too large to send without a blob store (--blob-dir)")
        try:
            response.body = self.blobs.write_response(response.request_id, body.raw())
        except OSError as err:
            raise BlobWriteError(f"the reply could not be stored: {err.strerror}") from err


async def _heartbeat_forever(every: float) -> None:
    # Sleep first: a call shorter than ``every`` sends no heartbeat RPC at
    # all; a Runner that dies before its first one is still caught by the
    # heartbeat timeout, which runs from the task's start.
    while True:
        await asyncio.sleep(every)
        activity.heartbeat()


def checked_reply(
    validator: OperationValidator, call: FuncCall, response: ResponseEnvelope
) -> ResponseEnvelope:
    """With ``validate_responses`` on, a reply that breaks its schema becomes a
    500 (a forward is not a reply: the operation it names answers)."""
    if not call.settings.validate_responses or response.forward is not None:
        return response
    problems = response_violations(validator, call.request, call.operation_path, response)
    if not problems:
        return response
    logger.error(
        "%s replied %s, which breaks its OpenAPI responses: %s",
        call.func.operation,
        response.status,
        "; ".join(problems),
    )
    extra = {"violations": problems} if call.settings.dev_mode else None
    return problem_response(
        call.request.request_id,
        500,
        "Internal Server Error",
        f"the reply of {call.func.operation} does not match its OpenAPI responses",
        extra=extra,
    )


async def call_func(
    host: LanguageHost,
    call: FuncCall,
    *,
    validator: OperationValidator,
    bodies: BodyStore,
    text_as_json: bool = False,
) -> ResponseEnvelope:
    """One call through a host, answered with a response envelope whatever
    happens (or, for a retryable operation whose Func raised, an
    ApplicationError for Temporal to retry)."""
    request = call.request
    try:
        host_call = bodies.read(call, text_as_json=text_as_json)
    except (OSError, ValueError) as err:
        logger.error("cannot read the request body: %s", err)
        return problem_response(
            request.request_id, 500, "Internal Server Error", "the body could not be read"
        )
    try:
        reply = await host.call(host_call)
        response = reply.response
        if reply.from_func:
            response = checked_reply(validator, call, response)
        bodies.offload(response)
    except HostLost as err:
        logger.error("%s could not be called: %s", call.func.operation, err)
        raise ApplicationError(f"the language host was lost: {err}", type=HOST_LOST) from err
    except BlobWriteError as err:
        logger.error("%s: the reply could not be stored: %s", call.func.operation, err.__cause__)
        if call.retry_on_error:  # it may run again (x-funcatron-retry): later, with room
            raise ApplicationError(str(err), type=BLOB_STORE_FAILED) from err
        return problem_response(
            request.request_id, 507, "Insufficient Storage", f"{err}; the Func ran",
            func=call.func,
        )  # fmt: skip
    except Exception as err:  # a Func's failure must never take the worker down
        if isinstance(err, FuncRaised):
            detail, rendered = err.detail, err.traceback
        else:  # the reply could not be checked or stored
            detail, rendered = f"{call.func.operation} failed", traceback.format_exc()
        logger.error("%s\n%s", detail, rendered.rstrip())
        extra = {"traceback": rendered} if call.settings.dev_mode else None
        if call.retry_on_error:
            raise ApplicationError(detail, extra or {}, type=FUNC_ERROR) from err
        return problem_response(
            request.request_id, 500, "Internal Server Error", detail, func=call.func, extra=extra
        )
    response.func = call.func
    return response


def operation_activity(
    served: ServedFunc,
    bodies: BodyStore,
    specs: SpecStore | None = None,
    load: RunnerLoad | None = None,
) -> Callable[..., Any]:
    """The version's operations, as one dynamic activity (run as a local
    activity on the fast path: engine/request_workflow.py FastRequest)."""
    load = load or RunnerLoad()
    func, host = served.func, served.host
    spec = registered_spec(func, specs)
    validator = OperationValidator(spec)
    json_only = {operation: replies_json_only(spec, operation) for operation in host.operation_ids}

    @activity.defn(dynamic=True)
    async def run_operation(args: Sequence[RawValue]) -> ResponseEnvelope:
        operation_id = activity.info().activity_type
        if operation_id not in host.operation_ids:
            raise ApplicationError(
                f"Func {func.name}@{func.sha[:12]} has no operation {operation_id!r}",
                type=OPERATION_NOT_FOUND,
                non_retryable=True,
            )
        info = activity.info()
        call = activity.payload_converter().from_payload(args[0].payload, FuncCall)
        call.request.attempt = info.attempt
        if info.is_local and local_budget_spent(info, call):
            return local_timeout_response(call, info)
        with (
            request_context(call.request.request_id, call.func, call.settings.log_level),
            load.call(info.task_queue, fast=info.is_local),
        ):
            # Heartbeats tell Temporal this Runner is alive; if it dies, the
            # task is retried on another one after the heartbeat timeout. A
            # local activity needs none: its workflow task times out instead.
            every = call.settings.heartbeat_timeout / HEARTBEATS_PER_TIMEOUT
            heartbeat = None if info.is_local else asyncio.create_task(_heartbeat_forever(every))
            try:
                with func_span(call) as called:
                    response = await call_func(
                        host, call, validator=validator, bodies=bodies,
                        text_as_json=json_only.get(operation_id, False),
                    )  # fmt: skip
                    if called is not None:
                        called.set_attribute("http.response.status_code", response.status)
                    return response
            finally:
                if heartbeat is not None:
                    heartbeat.cancel()

    return run_operation


# answer_by is the Temporal server's clock, read by the Runner's: it ends a
# call handed from Runner to Runner for good, so being late by this is fine,
# and a Runner whose clock runs a little ahead still calls the Func
CLOCK_SKEW_ALLOWANCE = 5.0


def local_budget_spent(info: activity.Info, call: FuncCall) -> bool:
    """A local activity's call after its whole budget ran out, where the
    server would end an activity's. Temporal's SDK core goes on retrying a
    local activity that timed out past its schedule-to-close (measured:
    attempt 13 of a 1 s operation after 40 s), and one whose workflow task
    moved to this Runner from a lost one starts with a whole budget again;
    so the Runner ends it, by the call's answer_by too."""
    now = datetime.now(UTC)
    if call.answer_by is not None and now.timestamp() >= call.answer_by + CLOCK_SKEW_ALLOWANCE:
        return True
    budget = info.schedule_to_close_timeout
    if budget is None or info.attempt < 2:
        return False
    return now - info.scheduled_time >= budget


def local_timeout_response(call: FuncCall, info: activity.Info) -> ResponseEnvelope:
    """The 504 the workflow gives an operation that timed out (engine/operation_run.py)."""
    timeout = (info.start_to_close_timeout or timedelta()).total_seconds()
    logger.warning("%s did not answer within %g s", call.func.operation, timeout)
    return timed_out_response(call.request.request_id, call.func.operation, timeout, func=call.func)


def runner_workers(
    client: Client,
    served: list[ServedFunc],
    bodies: BodyStore,
    specs: SpecStore | None = None,
    *,
    concurrency: int | None = None,
    load: RunnerLoad | None = None,
    answers: Answers | None = None,
) -> list[Worker]:
    """``concurrency``: calls each Func takes at once, over its spec's (the
    controller passes what `scale --concurrency` set). ``answers``: the
    fast path is on, so each worker also runs the version's FastRequest
    workflows and hands their results to the door (workers/runner_door.py)."""
    fast: dict[str, Any] = {}
    if answers is not None:
        fast = {
            "workflows": [FastRequestWorkflow],
            # our own workflow code, as on the Trons (workers/tron.py)
            "workflow_runner": UnsandboxedWorkflowRunner(),
            "interceptors": [answers.interceptor()],
            "sticky_queue_schedule_to_start_timeout": STICKY_TIMEOUT,
        }
    return [
        Worker(
            client,
            task_queue=each.func.task_queue,
            activities=[operation_activity(each, bodies, specs, load)],
            max_concurrent_activities=calls_at_once(each, concurrency),
            max_concurrent_local_activities=calls_at_once(each, concurrency),
            # Temporal's own limit for the task queue, over all its Runners
            max_task_queue_activities_per_second=each.func.scale.rate_limit,
            # a scale-down cuts no call short: each may run its operation's timeout
            graceful_shutdown_timeout=timedelta(seconds=each.func.longest_call()),
            **fast,
        )
        for each in served
    ]


def calls_at_once(served: ServedFunc, concurrency: int | None) -> int:
    return concurrency or served.func.scale.concurrency


@dataclass(frozen=True)
class FuncSource:
    """Where a Runner finds a Func version's code: a folder (``dev``), or an
    unpacked bundle's ``func/`` with its vendored dependencies."""

    folder: Path
    name: str
    sha: str
    vendor: Path | None = None

    @classmethod
    def of_folder(cls, folder: Path) -> FuncSource:
        path = folder.resolve()
        return cls(path, func_name_for(path), folder_sha(path))


async def load_funcs(
    client: Client,
    sources: list[FuncSource],
    executor: ThreadPoolExecutor,
    *,
    broken_ok: bool = False,
    abandoned: AbandonedCalls | None = None,
) -> list[ServedFunc]:
    """Each Func version as the Registry holds it, with its code loaded: a
    Python Func's in this process, a JavaScript or JVM Func's in its host."""
    served = []
    for source in sources:
        func = await registered_func(client, source.name, source.sha)
        host: LanguageHost
        language = folder_language(source.folder)
        if language != "python":
            start = node_host if language == "javascript" else jvm_host
            host = start(source.folder, func.routes, broken_ok=broken_ok)
            await host.start()
        else:
            if source.vendor is not None and str(source.vendor) not in sys.path:
                sys.path.insert(0, str(source.vendor))  # the bundle's pinned dependencies first
            host = PythonHost.load(
                source.folder, func.routes, executor, broken_ok=broken_ok, abandoned=abandoned
            )
        served.append(ServedFunc(func, host))
    return served


async def run_runner(
    client: Client,
    sources: list[FuncSource],
    *,
    bodies: BodyStore,
    specs: SpecStore | None = None,
    ready_file: Path | None = None,
    broken_ok: bool = False,
    concurrency: int | None = None,
    door_host: str | None = None,
    summaries: bool = True,
) -> None:
    """``door_host``: open a fast-path door on this address
    (workers/runner_door.py); None: the usual path only."""
    capture_func_output()
    abandoned, stop = AbandonedCalls(), asyncio.Event()
    with ThreadPoolExecutor(MAX_CALL_THREADS, thread_name_prefix="func") as executor:
        served = await load_funcs(
            client, sources, executor, broken_ok=broken_ok, abandoned=abandoned
        )
        watch_the_loop(asyncio.get_running_loop())  # once the code is loaded: imports block it
        load = RunnerLoad()
        answers = Answers() if door_host is not None else None
        workers = runner_workers(
            client, served, bodies, specs, concurrency=concurrency, load=load, answers=answers
        )
        door = None
        if answers is not None and door_host is not None:
            queues = {
                each.func.task_queue: DoorQueue(calls_at_once(each, concurrency)) for each in served
            }
            door = serve_runner_door(client, answers, load, queues, door_host, summaries=summaries)
        stopping = asyncio.create_task(stop_when_stuck(abandoned, stop))
        try:
            await serve_until_signalled(
                workers, ready_file=ready_file, while_polling=door, stop=stop
            )
        finally:
            stopping.cancel()
            for each in served:
                await each.host.close()  # a Node host's process ends with its Runner
            exit_if_threads_stuck(abandoned)
