"""The controller: makes the substrate's pools match the Registry, about
once a second. Every version that serves (live, canary, or pending while a
deploy waits for its pool) gets a pool of the size the autoscaler gave it
(or its Func's ``replicas``), its Runners taking the version's
concurrency, and its task queue Temporal's rate limit for it; the Trons
get the size the autoscaler gave them; a pool no
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
from funcatron_wf.deploy.queue_limits import set_rate_limit
from funcatron_wf.deploy.substrate import Pool, Substrate
from funcatron_wf.engine.contracts import PoolSize, RegistryState
from funcatron_wf.engine.registry_client import read_registry_state

logger = logging.getLogger(__name__)
DRAIN_AFTER = 15.0
REGISTRY_READ_TIMEOUT = 5.0  # seconds: the Registry runs on the Trons, which may be stalled


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
        self._rate_limits: dict[str, float | None] = {}  # task queue -> the limit set on it
        self._trons_unsized = False  # said once: the substrate cannot size the Trons

    @staticmethod
    def desired(state: RegistryState) -> dict[tuple[str, str], tuple[Pool, float | None]]:
        """Each serving version's pool and its rate limit."""
        wanted = {}
        for deployment in state.deployments:
            for version in deployment.serving():
                policy = deployment.policy(version)
                pool = Pool(
                    deployment.name, version.sha, version.task_queue,
                    deployment.pool_size(version), policy.concurrency, version.longest_call(),
                )  # fmt: skip
                wanted[deployment.name, version.sha] = (pool, policy.rate_limit)
        return wanted

    async def reconcile(self) -> bool:
        """One pass; a failure (Temporal or the substrate out of reach) is
        logged and waits for the next one. Whether it went through. The
        Trons are sized even when the Registry does not answer: it runs on
        them, and stalled Trons are when more are needed."""
        try:
            state = await asyncio.wait_for(read_registry_state(self.client), REGISTRY_READ_TIMEOUT)
        except Exception:
            logger.exception("the controller could not read the Registry; trying again")
            await self._trons_pass(None)
            return False
        await self._trons_pass(state.trons)
        try:
            if self.autoscaler is not None:
                # it logs its own failures; the pools are made anyway
                state = await self.autoscaler.size_pools(state)
            desired = self.desired(state)
            existing = {(pool.func, pool.sha): pool for pool in await self.substrate.pools()}
            for key, (pool, rate_limit) in desired.items():
                self._unwanted_since.pop(key, None)
                if existing.get(key) != pool:
                    was = existing.get(key)
                    logger.info(
                        "pool %s %s: %s -> %d Runners taking %d calls at once",
                        pool.func, pool.sha[:12], was.replicas if was else "none",
                        pool.replicas, pool.concurrency,
                    )  # fmt: skip
                    await self.substrate.apply(pool)
                await self._limit(pool.task_queue, rate_limit)
            for gone in self._rate_limits.keys() - {
                pool.task_queue for pool, _ in desired.values()
            }:
                del self._rate_limits[gone]
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

    async def _trons_pass(self, recorded: PoolSize | None) -> None:
        """The Trons' size: the autoscaler's, else the one the Registry recorded."""
        try:
            if self.autoscaler is not None:
                await self.autoscaler.size_trons(recorded)
            trons = (self.autoscaler and self.autoscaler.tron_size) or recorded
            if trons is not None:
                await self._size_trons(trons.replicas)
        except Exception:
            logger.exception("the controller could not size the Trons; trying again")

    async def _size_trons(self, replicas: int) -> None:
        running = await self.substrate.trons()
        if running is None:
            if not self._trons_unsized:
                logger.info("this substrate does not size the Trons: they stay as they are")
            self._trons_unsized = True
        elif running != replicas:
            logger.info("Trons: %d -> %d", running, replicas)
            await self.substrate.size_trons(replicas)

    async def _limit(self, task_queue: str, rate_limit: float | None) -> None:
        """Temporal's rate limit on the queue, set once per change (and once
        after the controller starts: it may have changed meanwhile)."""
        if task_queue in self._rate_limits and self._rate_limits[task_queue] == rate_limit:
            return
        await set_rate_limit(self.client, task_queue, rate_limit)
        if rate_limit is not None or task_queue in self._rate_limits:
            logger.info("task queue %s: rate limit %s", task_queue, rate_limit or "none")
        self._rate_limits[task_queue] = rate_limit


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
