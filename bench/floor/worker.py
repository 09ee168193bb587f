"""The Temporal floor: the least a durable request can cost. A minimal
workflow runs one activity on another task queue. Its workflow runs outside
the sandbox, as the platform's Tron does, so the ratio a/b measures the
platform's own work, not a worker setting."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

WORKFLOW_QUEUE = "bench.floor.workflow"
ACTIVITY_QUEUE = "bench.floor.activity"


@activity.defn(name="floor_echo")
async def floor_echo(word: str) -> dict:
    return {"echo": word}


@workflow.defn(name="FloorWorkflow")
class FloorWorkflow:
    @workflow.run
    async def run(self, word: str) -> dict:
        return await workflow.execute_activity(
            "floor_echo",
            word,
            task_queue=ACTIVITY_QUEUE,
            start_to_close_timeout=timedelta(seconds=10),
            result_type=dict,
        )


async def main(address: str, ready_file: Path) -> None:
    client = await Client.connect(address)
    async with (
        Worker(
            client,
            task_queue=WORKFLOW_QUEUE,
            workflows=[FloorWorkflow],
            workflow_runner=UnsandboxedWorkflowRunner(),
        ),
        Worker(client, task_queue=ACTIVITY_QUEUE, activities=[floor_echo]),
    ):
        ready_file.write_text("ready\n")
        await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
