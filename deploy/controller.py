"""The controller: makes the substrate's pools match the Registry, about
once a second. Every version that serves (live, canary, or pending while a
deploy waits for its pool) gets a pool of its Func's ``replicas``; a pool no
version needs any more is removed only after ``drain_after`` seconds, so
requests routed to it just before a switch still find their Runners (and
the substrate's removal lets them finish what they hold)."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client

from funcatron_wf.deploy.autoscaler import Autoscaler
from funcatron_wf.deploy.substrate import Pool, Substrate
from funcatron_wf.engine.registry_client import read_registry_state

logger = logging.getLogger(__name__)
DRAIN_AFTER = 15.0


class Controller:
    """``autoscaler``: sizes the pools from their backlog first, each pass
    (deploy/autoscaler.py); without one a pool keeps its Func's replicas."""

    def __init__(
        self, client: Client, substrate: Substrate, *, drain_after: float = DRAIN_AFTER,
        autoscaler: Autoscaler | None = None,
    ) -> None:  # fmt: skip
        self.client = client
        self.substrate = substrate
        self.drain_after = drain_after
        self.autoscaler = autoscaler
        self._unwanted_since: dict[tuple[str, str], float] = {}

    async def desired(self) -> dict[tuple[str, str], Pool]:
        state = await read_registry_state(self.client)
        return {
            (deployment.name, version.sha): Pool(
                deployment.name, version.sha, version.task_queue, deployment.pool_size(version)
            )
            for deployment in state.deployments
            for version in deployment.serving()
        }

    async def reconcile(self) -> bool:
        """One pass; a failure (Temporal or the substrate out of reach) is
        logged and waits for the next one. Whether it went through."""
        if self.autoscaler is not None:
            await self.autoscaler.tick()  # its failures are logged; the pools are made anyway
        try:
            desired = await self.desired()
            existing = {(pool.func, pool.sha): pool for pool in await self.substrate.pools()}
            for key, pool in desired.items():
                self._unwanted_since.pop(key, None)
                if key not in existing or existing[key].replicas != pool.replicas:
                    was = existing[key].replicas if key in existing else "none"
                    logger.info("pool %s %s: %s -> %d Runners", pool.func, pool.sha[:12], was, pool.replicas)  # fmt: skip
                    await self.substrate.apply(pool)
            now = time.monotonic()
            for key in existing.keys() - desired.keys():
                if now - self._unwanted_since.setdefault(key, now) >= self.drain_after:
                    logger.info("pool %s %s: no version needs it; removed", key[0], key[1][:12])
                    await self.substrate.remove(*key)
                    del self._unwanted_since[key]
            return True
        except Exception:
            logger.exception("the controller could not reconcile the pools; trying again")
            return False


async def run_passes(
    one_pass: Callable[[], Awaitable[bool]], *, alive_file: Path | None = None,
    every: float = 1.0,
) -> None:  # fmt: skip
    """`funcatron-wf controller` and `autoscaler`: a pass every ``every``
    seconds until SIGINT/SIGTERM; ``alive_file`` is touched after each pass
    that went through (a liveness probe checks its age)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    while not stop.is_set():
        if await one_pass() and alive_file is not None:
            alive_file.touch()
        try:
            await asyncio.wait_for(stop.wait(), every)
        except TimeoutError:
            pass
