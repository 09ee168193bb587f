"""The autoscaler: each pass, for every serving Func version, its task
queue's backlog and its calls' service time give a size (deploy/scaling.py)
within the version's ScalePolicy and the bounds `scale` set; and the
Trons' queue (request workflows and routing) gives theirs, within
FUNCATRON_TRON_MIN and FUNCATRON_TRON_MAX. A size that changes is recorded
in the Registry with its reasons (`set_pool_size`, `set_tron_pool_size`):
the controller applies it on any substrate, `ls` shows it, and the log
says it with its inputs. A pending version is left at the size its deploy
started it with until it serves."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from temporalio.client import Client

from funcatron_wf.deploy.backlog import WORKFLOW_TASKS, activity_backlog, tron_backlog
from funcatron_wf.deploy.runner_load import PoolLoad, RunnerLoads
from funcatron_wf.deploy.scaling import Stabilizer, recommend
from funcatron_wf.deploy.service_time import ServiceTimes
from funcatron_wf.engine.contracts import (
    Deployment,
    FuncChange,
    PoolSize,
    RegisteredFunc,
    RegistryState,
    ScalePolicy,
)
from funcatron_wf.engine.registry_client import (
    change_func,
    read_registry_state,
    set_tron_pool_size,
)
from funcatron_wf.engine.settings import Settings

logger = logging.getLogger(__name__)


RECORD_TIMEOUT = 30.0  # seconds the Registry may take to record the Trons' size
TRONS = ("", "trons")  # the Trons' stabilizer, beside the versions' (name, sha)


class Autoscaler:
    """``tron_policy``: the Trons' bounds (None: their pool is left alone)."""

    def __init__(
        self, client: Client, *, clock: Callable[[], float] = time.monotonic,
        service_times: ServiceTimes | None = None, tron_policy: ScalePolicy | None = None,
        runner_loads: RunnerLoads | None = None,
    ) -> None:  # fmt: skip
        self.client = client
        self.clock = clock
        self.service_times = service_times or ServiceTimes(client, clock=clock)
        self.runner_loads = runner_loads or RunnerLoads(clock=clock)
        self.tron_policy = tron_policy
        self.tron_size: PoolSize | None = None  # the last size decided for the Trons
        self._recording: asyncio.Task[None] | None = None
        self._stabilizers: dict[tuple[str, str], Stabilizer] = {}

    async def tick(self) -> bool:
        """One pass over every pool (`funcatron-wf autoscaler`); a failure is
        logged and waits for the next pass. Whether it went through."""
        try:
            state = await read_registry_state(self.client)
            await self.size_trons(state.trons)
            await self.size_pools(state)
            return True
        except Exception:
            logger.exception("the autoscaler could not size the pools; trying again")
            return False

    async def size_pools(self, state: RegistryState) -> RegistryState:
        """Size every serving version's pool; the Registry's state after the
        sizes it changed. A pool it could not size waits for the next pass."""
        serving = set()
        loads = await self.runner_loads.read(state.doors)  # every door once a pass
        for deployment in state.deployments:
            for version in deployment.serving():
                serving.add((deployment.name, version.sha))
                if version.sha != deployment.pending:
                    try:
                        fast = loads.get(version.task_queue, PoolLoad())
                        state = await self._size(deployment, version, fast) or state
                    except Exception:  # this pool waits for the next pass; the others go on
                        logger.exception("could not size %s %s", deployment.name, version.sha[:12])
        for gone in self._stabilizers.keys() - serving - {TRONS}:
            del self._stabilizers[gone]
        return state

    async def size_trons(self, recorded: PoolSize | None) -> None:
        """The Trons' work is short (a workflow task, a route): no service
        time, so the backlog's age asks for more and a queue where nothing
        waits, all window long, for one fewer. The size is the controller's
        at once (``tron_size``); the Registry records it in the background,
        as it runs on the Trons: stalled ones must not hold up their help."""
        policy = self.tron_policy
        if policy is None:
            return
        decided = self.tron_size or recorded
        current = decided.replicas if decided is not None else policy.min
        wanted = recommend(policy, await tron_backlog(self.client), current, None)
        stabilizer = self._stabilizers.setdefault(TRONS, Stabilizer())
        size = stabilizer.decide(self.clock(), wanted.replicas, current, policy.scale_down_after)
        if decided is not None and size == current:
            return
        logger.info("Trons: %d -> %d: %s", current, size, wanted.reason)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        self.tron_size = PoolSize(size, wanted.reason, now)
        if self._recording is not None:
            self._recording.cancel()  # a newer size to record
        self._recording = asyncio.create_task(self._record_trons(self.tron_size))

    async def _record_trons(self, size: PoolSize) -> None:
        try:
            await asyncio.wait_for(set_tron_pool_size(self.client, size), RECORD_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.warning("could not record the Trons' size in the Registry", exc_info=True)

    async def _size(
        self, deployment: Deployment, version: RegisteredFunc, fast: PoolLoad
    ) -> RegistryState | None:
        """``fast``: the version's calls on the fast path (deploy/runner_load.py)."""
        policy = deployment.policy(version)
        current = deployment.pool_size(version)
        calls = await activity_backlog(self.client, version.task_queue)
        tasks = await activity_backlog(self.client, version.task_queue, WORKFLOW_TASKS)
        backlog = calls.with_waiting_workflows(tasks).with_fast_path(fast.in_flight, fast.rate)
        # the calls as they run now, where the fast path counted them; else
        # as the latest histories say (the usual path's activities)
        service_time = fast.service_time or await self.service_times.of(
            version.sha, version.task_queue
        )
        wanted = recommend(policy, backlog, current, service_time)
        stabilizer = self._stabilizers.setdefault((deployment.name, version.sha), Stabilizer())
        size = stabilizer.decide(self.clock(), wanted.replicas, current, policy.scale_down_after)
        if size == current:
            return None
        logger.info(
            "pool %s %s: %d -> %d Runners: %s",
            deployment.name, version.sha[:12], current, size, wanted.reason,
        )  # fmt: skip
        change = FuncChange(
            name=deployment.name, sha=version.sha, replicas=size, reason=wanted.reason
        )
        return await change_func(self.client, "set_pool_size", change)


def autoscaler_for(client: Client, settings: Settings) -> Autoscaler | None:
    """The autoscaler, unless FUNCATRON_AUTOSCALE is off."""
    if not settings.autoscale:
        return None
    trons = ScalePolicy(min=settings.tron_min, max=settings.tron_max)
    return Autoscaler(client, tron_policy=trons)
