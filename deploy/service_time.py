"""How long a Func version's calls run, read back from Temporal: the
histories of its latest completed requests (found by their FuncSha search
attribute), from each call's start to its completion on the version's
task queue. The autoscaler's other input beside the backlog; sampled
every ``every`` seconds per version, not every pass."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable

from temporalio.client import Client

from funcatron_wf.engine.request_attributes import FUNC_SHA

logger = logging.getLogger(__name__)
SAMPLES = 5  # the latest requests read per version
EVERY = 15.0  # seconds between two samplings of one version


async def recent_service_time(
    client: Client, sha: str, task_queue: str, *, samples: int = SAMPLES
) -> float | None:
    """The median seconds a call of the version ran, over its latest
    completed requests; None when none is found."""
    query = f"{FUNC_SHA.name} = '{sha}' AND ExecutionStatus = 'Completed'"
    durations: list[float] = []
    async for execution in client.list_workflows(query, limit=samples):
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        history = await handle.fetch_history()
        on_queue: set[int] = set()
        started: dict[int, float] = {}
        for event in history.events:
            if event.HasField("activity_task_scheduled_event_attributes"):
                if event.activity_task_scheduled_event_attributes.task_queue.name == task_queue:
                    on_queue.add(event.event_id)
            elif event.HasField("activity_task_started_event_attributes"):
                scheduled = event.activity_task_started_event_attributes.scheduled_event_id
                if scheduled in on_queue:
                    started[scheduled] = event.event_time.ToMicroseconds() / 1e6
            elif event.HasField("activity_task_completed_event_attributes"):
                scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
                if scheduled in started:
                    durations.append(event.event_time.ToMicroseconds() / 1e6 - started[scheduled])
    return statistics.median(durations) if durations else None


class ServiceTimes:
    """Each version's service time, sampled again after ``every`` seconds."""

    def __init__(self, client: Client, *, every: float = EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.client = client
        self.every = every
        self.clock = clock
        self._known: dict[str, tuple[float, float | None]] = {}  # sha -> (when, seconds)

    async def of(self, sha: str, task_queue: str) -> float | None:
        when, known = self._known.get(sha, (float("-inf"), None))
        if self.clock() - when < self.every:
            return known
        try:
            sampled = await recent_service_time(self.client, sha, task_queue)
        except Exception as err:  # visibility without our search attributes, say
            logger.warning("no service time for %s: %s", sha[:12], err)
            sampled = None
        fresh = sampled if sampled is not None else known  # keep the last one known
        self._known[sha] = (self.clock(), fresh)
        return fresh
