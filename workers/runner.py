"""The Runner worker: serves the task queues of one or more Func folders and
calls their functions (workers/calling.py holds the calling convention).

Each operation is an activity named by its operationId; one dynamic activity
per Func dispatches on that name, so a Func's operations need no
registration of their own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from funcatron_wf.engine.blobs import DEFAULT_INLINE_BODY_MAX, BlobStore
from funcatron_wf.engine.envelopes import ResponseEnvelope, problem_response
from funcatron_wf.engine.request_workflow import FuncCall
from funcatron_wf.engine.validation import OperationValidator, response_violations
from funcatron_wf.workers.calling import CallEnvironment, ReplyCheck, call_operation
from funcatron_wf.workers.func_folder import FuncFolder
from funcatron_wf.workers.serving import DRAIN_TIMEOUT, serve_until_signalled

logger = logging.getLogger(__name__)

MAX_CONCURRENT_CALLS = 64


HEARTBEAT_EVERY = 1.0  # seconds; well inside the workflow's HEARTBEAT_TIMEOUT


async def _heartbeat_forever() -> None:
    # Sleep first: a call shorter than HEARTBEAT_EVERY sends no heartbeat RPC
    # at all; a Runner that dies before its first one is still caught by the
    # heartbeat timeout, which runs from the task's start.
    while True:
        await asyncio.sleep(HEARTBEAT_EVERY)
        activity.heartbeat()


def reply_checker(validator: OperationValidator) -> ReplyCheck:
    def checked_response(call: FuncCall, response: ResponseEnvelope) -> ResponseEnvelope:
        """With ``validate_responses`` on, a reply that breaks its schema becomes a 500."""
        if not call.settings.validate_responses:
            return response
        return _checked(validator, call, response)

    return checked_response


def _checked(
    validator: OperationValidator, call: FuncCall, response: ResponseEnvelope
) -> ResponseEnvelope:
    problems = response_violations(validator, call.request, call.operation_path, response)
    if not problems:
        return response
    logger.error(
        "request %s: %s replied %s, which breaks its OpenAPI responses: %s",
        call.request.request_id,
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
        func=call.func,
        extra=extra,
    )


def operation_activity(
    folder: FuncFolder, operations: dict[str, Callable[..., Any]], shared: CallEnvironment
) -> Callable[..., Any]:
    environment = replace(
        shared, check_reply=reply_checker(OperationValidator(folder.spec.openapi))
    )

    @activity.defn(dynamic=True)
    async def run_operation(args: Sequence[RawValue]) -> ResponseEnvelope:
        operation_id = activity.info().activity_type
        function = operations.get(operation_id)
        if function is None:
            raise ApplicationError(
                f"Func {folder.name}@{folder.sha[:12]} has no operation {operation_id!r}",
                type="OperationNotFound",
                non_retryable=True,
            )
        call = activity.payload_converter().from_payload(args[0].payload, FuncCall)
        # Heartbeats tell Temporal this Runner is alive; if it dies, the task
        # is retried on another one after the heartbeat timeout.
        heartbeat = asyncio.create_task(_heartbeat_forever())
        try:
            return await call_operation(function, call, environment)
        finally:
            heartbeat.cancel()

    return run_operation


def runner_workers(
    client: Client, folders: list[FuncFolder], environment: CallEnvironment
) -> list[Worker]:
    return [
        Worker(
            client,
            task_queue=folder.task_queue,
            activities=[operation_activity(folder, folder.resolve_operations(), environment)],
            max_concurrent_activities=MAX_CONCURRENT_CALLS,
            graceful_shutdown_timeout=DRAIN_TIMEOUT,
        )
        for folder in folders
    ]


async def run_runner(
    client: Client,
    folders: list[FuncFolder],
    *,
    blobs: BlobStore | None = None,
    inline_body_max: int = DEFAULT_INLINE_BODY_MAX,
    ready_file: Path | None = None,
) -> None:
    with ThreadPoolExecutor(MAX_CONCURRENT_CALLS, thread_name_prefix="func") as executor:
        environment = CallEnvironment(executor, blobs=blobs, inline_body_max=inline_body_max)
        await serve_until_signalled(
            runner_workers(client, folders, environment), ready_file=ready_file
        )
