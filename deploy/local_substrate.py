"""The `local` substrate: each pool is Runner processes on this machine
(`funcatron-wf runner --bundle SHA`), children of the local platform (`up`),
restarted when they die like its other workers; a pool scaled down or
removed gets SIGTERM, so its Runners stop polling, finish what they hold
and exit. A pool whose concurrency changes starts new Runners first, then
retires the old ones.

The Trons: the platform's first Tron has the front door; more are plain
Tron workers (`tron-2`, `tron-3`, ...) on the same task queue."""

from __future__ import annotations

import asyncio
import time

from funcatron_wf.deploy.processes import ManagedProcess
from funcatron_wf.deploy.stack import LocalStack
from funcatron_wf.deploy.substrate import TRON_STOP_GRACE, Pool, runner_args
from funcatron_wf.engine.errors import ServiceStartError

# seconds before a pool whose Runner did not start is tried again
RETRY_AFTER = 30.0
TRONS = ("", "trons")  # the Trons' key beside the pools' (func, sha)


class LocalSubstrate:
    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack
        self.logs = stack.runtime_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._pools: dict[tuple[str, str], tuple[Pool, list[str]]] = {}  # -> process names
        self._failed_at: dict[tuple[str, str], float] = {}
        self._more_trons: list[str] = []  # process names, beside the stack's own "tron"

    def _processes(self, names: list[str]) -> list[ManagedProcess]:
        by_name = {process.name: process for process in self.stack.processes}
        return [by_name[name] for name in names if name in by_name]

    async def apply(self, pool: Pool) -> None:
        key = (pool.func, pool.sha)
        known, names = self._pools.get(key, (pool, []))
        if time.monotonic() - self._failed_at.get(key, float("-inf")) < RETRY_AFTER:
            return  # it failed a moment ago: not again every second
        replaced = names if known.concurrency != pool.concurrency else []
        names = [name for name in names if name not in replaced]
        # the missing Runners start side by side: a burst should not wait for them one by one
        prefix = f"runner-{pool.func}-{pool.sha[:12]}-"
        wanted = _free_names(prefix, 1, {*names, *replaced}, pool.replicas - len(names))
        what = f"pool {pool.func} {pool.sha[:12]}"
        started = await asyncio.gather(
            *(self._start(name, what, "runner", *runner_args(pool)) for name in wanted)
        )
        names.extend(name for name, ok in zip(wanted, started, strict=True) if ok)
        if not all(started):
            self._failed_at[key] = time.monotonic()
            if replaced:  # the old Runners serve on until new ones can start
                for name in names:
                    await self._stop(name, pool.stop_grace)
                return
        while len(names) > pool.replicas:
            await self._stop(names.pop(), pool.stop_grace)
        for name in replaced:  # the new Runners poll: the old ones drain
            await self._stop(name, known.stop_grace)
        self._pools[key] = (pool, names)

    async def _start(self, name: str, what: str, role: str, *args: str) -> bool:
        """One worker (``what`` names its pool in what is said when it fails)."""
        self.stack.expendable.add(name)  # until it polls, its failure is the pool's
        self.stack.may_give_up.add(name)
        try:
            await asyncio.to_thread(
                self.stack.start_worker, role, *args, name=name, log_path=self.logs / f"{name}.log"
            )
            return True
        except ServiceStartError as err:
            for process in self._processes([name]):
                self.stack.forget(process)
                process.stop()
            self.stack.say(f"{what}: {err}")
            return False
        finally:
            self.stack.expendable.discard(name)

    async def remove(self, func: str, sha: str) -> None:
        pool, names = self._pools.pop((func, sha), (None, []))
        for name in names:
            await self._stop(name, pool.stop_grace if pool is not None else TRON_STOP_GRACE)

    async def _stop(self, name: str, grace: float = TRON_STOP_GRACE) -> None:
        for process in self._processes([name]):
            # drains in the background; the platform goes on
            self.stack.retire(process, grace=grace)

    async def pools(self) -> list[Pool]:
        return [
            Pool(
                pool.func,
                pool.sha,
                pool.task_queue,
                len(self._processes(names)),
                pool.concurrency,
            )  # fmt: skip
            for pool, names in self._pools.values()
        ]

    async def trons(self) -> int:
        return 1 + len(self._processes(self._more_trons))

    async def size_trons(self, replicas: int) -> None:
        if time.monotonic() - self._failed_at.get(TRONS, float("-inf")) < RETRY_AFTER:
            return
        self._more_trons = [p.name for p in self._processes(self._more_trons)]  # the live ones
        missing = _free_names(
            "tron-", 2, set(self._more_trons), replicas - 1 - len(self._more_trons)
        )
        started = await asyncio.gather(*(self._start(name, "Trons", "tron") for name in missing))
        self._more_trons += [name for name, ok in zip(missing, started, strict=True) if ok]
        if not all(started):
            self._failed_at[TRONS] = time.monotonic()
        while len(self._more_trons) > max(0, replicas - 1):
            await self._stop(self._more_trons.pop())


def _free_names(prefix: str, first: int, taken: set[str], count: int) -> list[str]:
    """``count`` names ``prefix<n>``, the lowest numbers from ``first`` not taken."""
    numbers = range(first, first + len(taken) + max(0, count))
    return [name for name in (f"{prefix}{n}" for n in numbers) if name not in taken][
        : max(0, count)
    ]
