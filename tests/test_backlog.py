"""A task queue's backlog as the autoscaler reads it, on a real Temporal:
activity calls no Runner polls for pile up (count and age), and drain
once one polls."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from funcatron_wf.deploy.backlog import Backlog, activity_backlog


@activity.defn(name="noop")
async def noop() -> str:
    return "done"


@workflow.defn(name="OneCall")
class OneCall:
    @workflow.run
    async def run(self, task_queue: str) -> str:
        return str(
            await workflow.execute_activity(
                "noop", task_queue=task_queue, start_to_close_timeout=timedelta(seconds=30)
            )
        )


async def backlog_when(
    client: Client, task_queue: str, check: Callable[[Backlog], bool], timeout: float = 30.0
) -> Backlog:
    """The backlog once ``check`` holds (Temporal's stats lag a little)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        seen = await activity_backlog(client, task_queue)
        if check(seen):
            return seen
        assert asyncio.get_running_loop().time() < deadline, f"still {seen}"
        await asyncio.sleep(0.3)


async def test_calls_nobody_polls_for_pile_up_then_drain(temporal_client: Client) -> None:
    calls = f"backlog-calls-{uuid.uuid4().hex[:8]}"
    flows = f"backlog-flows-{uuid.uuid4().hex[:8]}"
    assert await activity_backlog(temporal_client, calls) == Backlog(0, 0.0, 0.0, 0.0, 0)
    async with Worker(
        temporal_client, task_queue=flows, workflows=[OneCall],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):  # fmt: skip
        handles = [
            await temporal_client.start_workflow(
                OneCall.run, calls, id=f"{calls}-{n}", task_queue=flows
            )
            for n in range(3)
        ]
        piled = await backlog_when(temporal_client, calls, lambda b: b.count == 3 and b.age > 0.5)
        assert piled.pollers == 0
        async with Worker(temporal_client, task_queue=calls, activities=[noop]):
            assert [await handle.result() for handle in handles] == ["done"] * 3
            drained = await backlog_when(temporal_client, calls, lambda b: b.count == 0)
            assert drained.age == 0.0 and drained.pollers >= 1
