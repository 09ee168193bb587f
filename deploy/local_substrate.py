"""The `local` substrate: each pool is Runner processes on this machine
(`funcatron-wf runner --bundle SHA`), children of the local platform (`up`),
restarted when they die like its other workers; a pool scaled down or
removed gets SIGTERM, so its Runners stop polling, finish what they hold
and exit."""

from __future__ import annotations

import asyncio
import time

from funcatron_wf.deploy.processes import ManagedProcess
from funcatron_wf.deploy.stack import LocalStack
from funcatron_wf.deploy.substrate import Pool
from funcatron_wf.engine.errors import ServiceStartError

# seconds before a pool whose Runner did not start is tried again
RETRY_AFTER = 30.0


class LocalSubstrate:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.logs = stack.runtime_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._pools: dict[tuple[str, str], tuple[Pool, list[str]]] = {}  # -> process names
        self._failed_at: dict[tuple[str, str], float] = {}

    def _processes(self, names: list[str]) -> list[ManagedProcess]:
        by_name = {process.name: process for process in self.stack.processes}
        return [by_name[name] for name in names if name in by_name]

    async def apply(self, pool: Pool) -> None:
        key = (pool.func, pool.sha)
        _, names = self._pools.get(key, (pool, []))
        if time.monotonic() - self._failed_at.get(key, float("-inf")) < RETRY_AFTER:
            return  # it failed a moment ago: not again every second
        # the missing Runners start side by side: a burst should not wait for them one by one
        free = (f"runner-{pool.func}-{pool.sha[:12]}-{n}" for n in range(1, 2 * pool.replicas + 2))
        wanted = [name for name in free if name not in names][: max(0, pool.replicas - len(names))]
        started = await asyncio.gather(*(self._start(name, pool) for name in wanted))
        names.extend(name for name, ok in zip(wanted, started, strict=True) if ok)
        if not all(started):
            self._failed_at[key] = time.monotonic()
        while len(names) > pool.replicas:
            await self._stop(names.pop())
        self._pools[key] = (pool, names)

    async def _start(self, name: str, pool: Pool) -> bool:
        log = self.logs / f"{name}.log"
        self.stack.expendable.add(name)  # until it polls, its failure is the pool's
        self.stack.may_give_up.add(name)
        try:
            await asyncio.to_thread(
                self.stack.start_worker, "runner", "--bundle", pool.sha, name=name, log_path=log
            )
            return True
        except ServiceStartError as err:
            for process in self._processes([name]):
                self.stack.forget(process)
                process.stop()
            self.stack.say(f"pool {pool.func} {pool.sha[:12]}: {err}")
            return False
        finally:
            self.stack.expendable.discard(name)

    async def remove(self, func: str, sha: str) -> None:
        _, names = self._pools.pop((func, sha), (None, []))
        for name in names:
            await self._stop(name)

    async def _stop(self, name: str) -> None:
        for process in self._processes([name]):
            self.stack.retire(process)  # drains in the background; the platform goes on

    async def pools(self) -> list[Pool]:
        return [
            Pool(pool.func, pool.sha, pool.task_queue, len(self._processes(names)))
            for pool, names in self._pools.values()
        ]
