"""A pool's calls on the fast path, read from its Runners' doors.

A request the fast path takes never waits in the version's task queue: it
runs as a local activity inside its workflow's first task on the Runner
that started it (workers/runner_door.py). So the queue's backlog and rates
no longer show that load; each Runner counts its calls instead (both paths)
and its door reports them (GET RUNNER_DOOR_LOAD_PATH). Read on every pass,
the counts give the pool's calls in flight, and, against the last reading
of the same door, the calls finished a second and how long each took.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp

from funcatron_wf.engine.contracts import RUNNER_DOOR_LOAD_PATH, RunnerDoor
from funcatron_wf.engine.registry import door_expired

logger = logging.getLogger(__name__)
READ_TIMEOUT = aiohttp.ClientTimeout(total=2.0, connect=1.0)


@dataclass(frozen=True)
class PoolLoad:
    in_flight: int = 0  # calls running on the pool's Runners now
    rate: float = 0.0  # calls finished a second since the last reading
    service_time: float | None = None  # seconds a call took, over the same span


@dataclass(frozen=True)
class _Reading:
    at: float
    calls: int
    busy_seconds: float


@dataclass
class _Totals:
    """One queue's counts summed over its doors in one pass."""

    in_flight: int = 0
    finished: int = 0
    busy: float = 0.0
    span: float = 0.0

    def load(self) -> PoolLoad:
        rate = self.finished / self.span if self.span > 0 else 0.0
        return PoolLoad(self.in_flight, rate, self.busy / self.finished if self.finished else None)


NO_CALLS: dict[str, Any] = {"in_flight": 0, "calls": 0, "busy_seconds": 0.0}


class RunnerLoads:
    """The last reading of each door, to turn counts into rates."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._last: dict[tuple[str, str], _Reading] = {}  # (door, task queue) -> reading
        self._session: aiohttp.ClientSession | None = None

    async def read(self, doors: list[RunnerDoor]) -> dict[str, PoolLoad]:
        """Each task queue's load over the doors serving it, each door read
        once (a Runner in `dev` serves several versions). A door past its
        lease is not asked, and one that does not answer counts for nothing:
        its Runner's calls show up as the queue's backlog once the Trons stop
        sending it any."""
        now = datetime.now(UTC)
        live = [door for door in doors if not door_expired(door, now)]
        if not live:
            return {}
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=READ_TIMEOUT)
        readings = await asyncio.gather(*(self._read(door) for door in live))
        totals: dict[str, _Totals] = {}
        for door, reading in zip(live, readings, strict=True):
            if reading is None:
                continue
            counts, at = reading
            for queue in door.task_queues:
                count = counts.get(queue, NO_CALLS)
                total = totals.setdefault(queue, _Totals())
                total.in_flight += count["in_flight"]
                key = (door.address, queue)
                last = self._last.get(key)
                self._last[key] = _Reading(at, count["calls"], count["busy_seconds"])
                if last is not None and count["calls"] >= last.calls:  # not a restarted Runner
                    total.finished += count["calls"] - last.calls
                    total.busy += count["busy_seconds"] - last.busy_seconds
                    total.span = max(total.span, at - last.at)
        return {queue: total.load() for queue, total in totals.items()}

    async def _read(self, door: RunnerDoor) -> tuple[dict[str, Any], float] | None:
        """The door's counts by task queue, and when they were read."""
        assert self._session is not None
        try:
            async with self._session.get(f"http://{door.address}{RUNNER_DOOR_LOAD_PATH}") as reply:
                counts: dict[str, Any] = await reply.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            logger.info("no load from the Runner door %s: %r", door.address, err)
            return None
        return counts, self.clock()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
