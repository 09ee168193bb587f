"""The autoscaler: each pass, for every serving Func version, its task
queue's backlog and its calls' service time give a size (deploy/scaling.py)
within the version's ScalePolicy and the bounds `scale` set. A size that
changes is recorded in the Registry with its reasons (`set_pool_size`):
the controller applies it on any substrate, `ls` shows it, and the log
says it with its inputs. A pending version is left at the size its deploy
started it with until it serves."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from temporalio.client import Client

from funcatron_wf.deploy.backlog import activity_backlog
from funcatron_wf.deploy.scaling import Stabilizer, recommend
from funcatron_wf.deploy.service_time import ServiceTimes
from funcatron_wf.engine.contracts import Deployment, FuncChange, RegisteredFunc
from funcatron_wf.engine.registry_client import change_func, read_registry_state
from funcatron_wf.engine.settings import Settings

logger = logging.getLogger(__name__)


class Autoscaler:
    def __init__(
        self, client: Client, *, clock: Callable[[], float] = time.monotonic,
        service_times: ServiceTimes | None = None,
    ) -> None:  # fmt: skip
        self.client = client
        self.clock = clock
        self.service_times = service_times or ServiceTimes(client, clock=clock)
        self._stabilizers: dict[tuple[str, str], Stabilizer] = {}

    async def tick(self) -> bool:
        """One pass over every pool; a failure is logged and waits for the
        next pass. Whether it went through."""
        try:
            state = await read_registry_state(self.client)
            serving = set()
            for deployment in state.deployments:
                for version in deployment.serving():
                    serving.add((deployment.name, version.sha))
                    if version.sha != deployment.pending:
                        try:
                            await self._size(deployment, version)
                        except Exception:  # this pool waits for the next pass; the others go on
                            logger.exception(
                                "could not size %s %s", deployment.name, version.sha[:12]
                            )
            for gone in self._stabilizers.keys() - serving:
                del self._stabilizers[gone]
            return True
        except Exception:
            logger.exception("the autoscaler could not size the pools; trying again")
            return False

    async def _size(self, deployment: Deployment, version: RegisteredFunc) -> None:
        policy = deployment.policy(version)
        current = deployment.pool_size(version)
        backlog = await activity_backlog(self.client, version.task_queue)
        service_time = await self.service_times.of(version.sha, version.task_queue)
        wanted = recommend(policy, backlog, current, service_time)
        stabilizer = self._stabilizers.setdefault((deployment.name, version.sha), Stabilizer())
        size = stabilizer.decide(self.clock(), wanted.replicas, current, policy.scale_down_after)
        if size == current:
            return
        logger.info(
            "pool %s %s: %d -> %d Runners: %s",
            deployment.name, version.sha[:12], current, size, wanted.reason,
        )  # fmt: skip
        change = FuncChange(
            name=deployment.name, sha=version.sha, replicas=size, reason=wanted.reason
        )
        await change_func(self.client, "set_pool_size", change)


def autoscaler_for(client: Client, settings: Settings) -> Autoscaler | None:
    """The autoscaler, unless FUNCATRON_AUTOSCALE is off."""
    return Autoscaler(client) if settings.autoscale else None
