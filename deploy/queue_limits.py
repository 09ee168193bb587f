"""A Func version's rate limit, as Temporal's own limit on its task queue
(UpdateTaskQueueConfig): Temporal hands out no more than that many calls
a second over all the queue's Runners, and the rest wait in the backlog.
Set through the API it overrides the limit the Runners ask for (their
spec's), so `scale --rate-limit` takes effect at once, with no restart."""

from __future__ import annotations

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import RateLimit
from temporalio.api.workflowservice.v1 import UpdateTaskQueueConfigRequest
from temporalio.client import Client


async def set_rate_limit(client: Client, task_queue: str, calls_per_second: float | None) -> None:
    """The queue's limit on dispatching calls; None: no limit of ours (the
    Runners' own, if any, holds)."""
    update = UpdateTaskQueueConfigRequest.RateLimitUpdate(reason="funcatron-wf scale")
    if calls_per_second is not None:
        update.rate_limit.CopyFrom(RateLimit(requests_per_second=calls_per_second))
    await client.workflow_service.update_task_queue_config(
        UpdateTaskQueueConfigRequest(
            namespace=client.namespace,
            identity="funcatron-wf controller",
            task_queue=task_queue,
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
            update_queue_rate_limit=update,
        )
    )
