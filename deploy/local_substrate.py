"""The `local` substrate: each pool is Runner processes on this machine
(`funcatron-wf runner --bundle SHA`), children of the local platform (`up`),
restarted when they die like its other workers; a pool scaled down or
removed gets SIGTERM, so its Runners stop polling, finish what they hold
and exit."""

from __future__ import annotations

import asyncio

from funcatron_wf.deploy.processes import ManagedProcess
from funcatron_wf.deploy.stack import LocalStack
from funcatron_wf.deploy.substrate import Pool


class LocalSubstrate:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.logs = stack.runtime_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._pools: dict[tuple[str, str], tuple[Pool, list[str]]] = {}  # -> process names

    def _processes(self, names: list[str]) -> list[ManagedProcess]:
        by_name = {process.name: process for process in self.stack.processes}
        return [by_name[name] for name in names if name in by_name]

    async def apply(self, pool: Pool) -> None:
        key = (pool.func, pool.sha)
        _, names = self._pools.get(key, (pool, []))
        while len(names) < pool.replicas:
            name = f"runner-{pool.func}-{pool.sha[:12]}-{len(names) + 1}"
            await asyncio.to_thread(
                self.stack.start_worker,
                "runner",
                "--bundle",
                pool.sha,
                name=name,
                log_path=self.logs / f"{name}.log",
            )
            names.append(name)
        while len(names) > pool.replicas:
            await self._stop(names.pop())
        self._pools[key] = (pool, names)

    async def remove(self, func: str, sha: str) -> None:
        _, names = self._pools.pop((func, sha), (None, []))
        for name in names:
            await self._stop(name)

    async def _stop(self, name: str) -> None:
        for process in self._processes([name]):
            self.stack.forget(process)
            await asyncio.to_thread(process.stop, 60.0)  # a graceful drain, then SIGKILL
            self.stack.say(f"stopped {process.name} (pid {process.pid})")

    async def pools(self) -> list[Pool]:
        return [
            Pool(pool.func, pool.sha, pool.task_queue, len(self._processes(names)))
            for pool, names in self._pools.values()
        ]
