"""The Tron worker: runs RequestWorkflow and the Registry, and answers the
routing local activity from a cached snapshot of the Registry.

The cache is refreshed when it is older than ``max_age`` and on every miss,
so a route registered before a request began always answers. Concurrent
refreshes coalesce: a caller waiting on the lock reuses any refresh that
started after it asked, so a flood of unknown paths costs one query in flight
at a time, not one per request.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from funcatron_wf.engine.envelopes import RequestEnvelope
from funcatron_wf.engine.queues import TRON_TASK_QUEUE
from funcatron_wf.engine.registry import RegistryWorkflow
from funcatron_wf.engine.registry_client import ensure_registry, read_registry
from funcatron_wf.engine.request_workflow import ROUTE_ACTIVITY, RequestWorkflow
from funcatron_wf.engine.routing import RouteMatch, RouteTable
from funcatron_wf.workers.serving import DRAIN_TIMEOUT, serve_until_signalled


class RouteCache:
    def __init__(self, client: Client, *, max_age: float = 1.0) -> None:
        self._client = client
        self._max_age = max_age
        self._table = RouteTable([])
        self._generation = -1
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _refresh(self) -> None:
        asked_at = time.monotonic()
        async with self._lock:
            if self._loaded_at >= asked_at:
                return  # a refresh that started after we asked has finished: share it
            started_at = time.monotonic()
            try:
                snapshot = await read_registry(self._client)
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                return  # nothing registered yet
            if snapshot.generation != self._generation:
                self._table = RouteTable(snapshot.funcs)
                self._generation = snapshot.generation
            self._loaded_at = started_at

    @activity.defn(name=ROUTE_ACTIVITY)
    async def route(self, request: RequestEnvelope) -> RouteMatch:
        if time.monotonic() - self._loaded_at > self._max_age:
            await self._refresh()
        match = self._table.match(request.host, request.method, request.path)
        if match.func is None:
            await self._refresh()
            match = self._table.match(request.host, request.method, request.path)
        return match


def tron_worker(client: Client, *, task_queue: str = TRON_TASK_QUEUE) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[RequestWorkflow, RegistryWorkflow],
        activities=[RouteCache(client).route],
        graceful_shutdown_timeout=DRAIN_TIMEOUT,
    )


async def run_tron(client: Client, *, ready_file: Path | None = None) -> None:
    worker = tron_worker(client)
    await ensure_registry(client)
    await serve_until_signalled([worker], ready_file=ready_file)
