"""A task queue's backlog as Temporal reports it (DescribeTaskQueue with
stats): what the autoscaler sizes a pool from. Temporal computes these
from the queue's own bookkeeping; they are approximate, and the server
says they "can be relied upon for scaling decisions"."""

from __future__ import annotations

from dataclasses import dataclass, replace

from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from funcatron_wf.engine.contracts import TRON_TASK_QUEUE

WORKFLOW_TASKS = TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW


@dataclass(frozen=True)
class Backlog:
    """One task queue's activity tasks: waiting (how many, the oldest's
    age), added and dispatched per second, and the pollers seen lately."""

    count: int
    age: float  # seconds; 0 when nothing waits
    add_rate: float
    dispatch_rate: float
    pollers: int
    rate_limited: bool = False  # calls wait for the queue's rate limit, not for Runners
    in_flight: int = 0  # calls running on the fast path (deploy/runner_load.py)

    def with_waiting_workflows(self, tasks: Backlog) -> Backlog:
        """And the queue's workflow tasks waiting: the fast path's requests
        whose next task needs a Runner of the version (after a forward, or a
        Runner lost), even when no call waits."""
        return replace(self, count=self.count + tasks.count, age=max(self.age, tasks.age))

    def with_fast_path(self, in_flight: int, rate: float) -> Backlog:
        """The queue's backlog and the calls the fast path took beside it,
        which never wait in the queue: their rate, and those running now."""
        return replace(self, add_rate=self.add_rate + rate, in_flight=in_flight)


async def activity_backlog(
    client: Client,
    task_queue: str,
    kind: TaskQueueType.ValueType = TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
) -> Backlog:
    """The queue's activity tasks (a Func version's calls), or ``kind``'s."""
    reply = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
            task_queue_type=kind,
            report_stats=True,
        )
    )
    if not reply.HasField("stats"):
        raise RuntimeError(f"Temporal reported no statistics for task queue {task_queue}")
    stats = reply.stats
    age = stats.approximate_backlog_age
    return Backlog(
        count=int(stats.approximate_backlog_count),
        age=age.seconds + age.nanos / 1e9,
        add_rate=float(stats.tasks_add_rate),
        dispatch_rate=float(stats.tasks_dispatch_rate),
        pollers=len(reply.pollers),
        rate_limited=bool(stats.rate_limiting_active),
    )


async def tron_backlog(client: Client) -> Backlog:
    """The Trons' queue: the request workflows' tasks and the routing
    activities, as one backlog (the older of the two ages; both rates)."""
    tasks = await activity_backlog(client, TRON_TASK_QUEUE, WORKFLOW_TASKS)
    routing = await activity_backlog(client, TRON_TASK_QUEUE)
    return Backlog(
        count=tasks.count + routing.count,
        age=max(tasks.age, routing.age),
        add_rate=tasks.add_rate + routing.add_rate,
        dispatch_rate=tasks.dispatch_rate + routing.dispatch_rate,
        pollers=max(tasks.pollers, routing.pollers),
    )
