"""The Runner worker: serves the task queues of one or more Func folders and
calls their functions (workers/calling.py holds the calling convention).

Each operation is an activity named by its operationId; one dynamic activity
per Func dispatches on that name, so a Func's operations need no
registration of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from funcatron_wf.engine.envelopes import ResponseEnvelope
from funcatron_wf.engine.request_workflow import FuncCall
from funcatron_wf.workers.calling import call_operation
from funcatron_wf.workers.func_folder import FuncFolder
from funcatron_wf.workers.serving import DRAIN_TIMEOUT, serve_until_signalled

MAX_CONCURRENT_CALLS = 64


def operation_activity(
    folder: FuncFolder, operations: dict[str, Callable[..., Any]], executor: Executor
) -> Callable[..., Any]:
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
        return await call_operation(function, call, executor)

    return run_operation


def runner_workers(client: Client, folders: list[FuncFolder], executor: Executor) -> list[Worker]:
    return [
        Worker(
            client,
            task_queue=folder.task_queue,
            activities=[operation_activity(folder, folder.resolve_operations(), executor)],
            max_concurrent_activities=MAX_CONCURRENT_CALLS,
            graceful_shutdown_timeout=DRAIN_TIMEOUT,
        )
        for folder in folders
    ]


async def run_runner(
    client: Client, folders: list[FuncFolder], *, ready_file: Path | None = None
) -> None:
    with ThreadPoolExecutor(MAX_CONCURRENT_CALLS, thread_name_prefix="func") as executor:
        await serve_until_signalled(
            runner_workers(client, folders, executor), ready_file=ready_file
        )
