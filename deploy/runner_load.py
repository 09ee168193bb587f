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
from typing import Any

import aiohttp

from funcatron_wf.engine.contracts import RUNNER_DOOR_LOAD_PATH, RunnerDoor

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


class RunnerLoads:
    """The last reading of each door, to turn counts into rates."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._last: dict[tuple[str, str], _Reading] = {}  # (door, task queue) -> reading
        self._session: aiohttp.ClientSession | None = None

    async def of(self, task_queue: str, doors: list[RunnerDoor]) -> PoolLoad:
        """The load of ``task_queue`` over the doors serving it; a door that
        does not answer counts for nothing (its Runner's calls show up as
        the queue's backlog once the Trons stop sending it any)."""
        serving = [door for door in doors if task_queue in door.task_queues]
        if not serving:
            return PoolLoad()
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=READ_TIMEOUT)
        readings = await asyncio.gather(*(self._read(door, task_queue) for door in serving))
        in_flight, finished, busy, span = 0, 0, 0.0, 0.0
        for door, reading in zip(serving, readings, strict=True):
            if reading is None:
                continue
            count, now = reading
            in_flight += count["in_flight"]
            key = (door.address, task_queue)
            last, self._last[key] = (
                self._last.get(key),
                _Reading(now, count["calls"], count["busy_seconds"]),
            )
            if last is not None and count["calls"] >= last.calls:  # not a restarted Runner
                finished += count["calls"] - last.calls
                busy += count["busy_seconds"] - last.busy_seconds
                span = max(span, now - last.at)
        rate = finished / span if span > 0 else 0.0
        return PoolLoad(in_flight, rate, busy / finished if finished else None)

    async def _read(self, door: RunnerDoor, task_queue: str) -> tuple[dict[str, Any], float] | None:
        assert self._session is not None
        try:
            async with self._session.get(f"http://{door.address}{RUNNER_DOOR_LOAD_PATH}") as reply:
                counts = await reply.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as err:
            logger.info("no load from the Runner door %s: %r", door.address, err)
            return None
        queue = counts.get(task_queue, {"in_flight": 0, "calls": 0, "busy_seconds": 0.0})
        return queue, self.clock()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
