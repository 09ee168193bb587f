"""The Tron's cached view of the Registry, and routing on it.

The view (engine/routing.py's RegistryView) is kept fresh in the background
(``kept_fresh``: every ``max_age``), so no request waits for a refresh; a
request still refreshes it when it finds no route (registered a moment
ago?) or, where nothing keeps it fresh, when it is older than ``max_age``.
A refresh asks the Registry for its generation and reads the whole
snapshot only when that moved.
Concurrent refreshes coalesce: a caller waiting on the lock reuses any
refresh that started after it asked, so a flood of unknown paths costs one
query in flight at a time, not one per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client

from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.contracts import (
    RESOLVE_ACTIVITY,
    ROUTE_ACTIVITY,
    OperationTarget,
    RegistrySnapshot,
    RequestEnvelope,
    RouteDecision,
)
from funcatron_wf.engine.registry import door_expired
from funcatron_wf.engine.registry_client import registry_if_changed
from funcatron_wf.engine.routing import RegistryView, decide
from funcatron_wf.engine.spec_store import SpecStore

logger = logging.getLogger(__name__)


def fast_path_doors(
    snapshot: RegistrySnapshot, now: datetime | None = None
) -> dict[str, list[str]]:
    """Each serving version's Runner doors, by task queue: those renewed
    within their lease (a Runner killed leaves its door listed until the
    doors next change); none for a version with a rate limit, which Temporal
    holds only on the usual path (it limits the dispatch of activity tasks,
    and the fast path has none)."""
    versions = snapshot.funcs + [canary.func for canary in snapshot.canaries]
    limited = {version.task_queue for version in versions if version.scale.rate_limit is not None}
    now = now or datetime.now(UTC)
    doors: dict[str, list[str]] = {}
    for door in snapshot.doors:
        if door_expired(door, now):
            continue
        for queue in door.task_queues:
            if queue not in limited:
                doors.setdefault(queue, []).append(door.address)
    return doors


class RouteCache:
    def __init__(
        self,
        client: Client,
        *,
        blobs: BlobStore | None = None,
        specs: SpecStore | None = None,
        max_age: float = 1.0,
        search_attributes: bool = False,
    ) -> None:
        """``search_attributes``: the namespace has the request search
        attributes (engine/request_attributes.py), so decisions say to set them."""
        self._client = client
        self._blobs = blobs
        self._specs = specs
        self._max_age = max_age
        self._search_attributes = search_attributes
        self._view = RegistryView(RegistrySnapshot(generation=-1))
        self._doors: dict[str, list[str]] = {}  # task queue -> its Runners' doors
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _refresh(self) -> None:
        asked_at = time.monotonic()
        async with self._lock:
            if self._loaded_at >= asked_at:
                return  # a refresh that started after we asked has finished: share it
            started_at = time.monotonic()
            snapshot = await registry_if_changed(self._client, self._view.generation)
            if snapshot is not None:
                view = RegistryView(snapshot, self._specs)
                view.carry_validators_from(self._view)
                self._view = view
                self._doors = fast_path_doors(snapshot)
            self._loaded_at = started_at

    @contextlib.asynccontextmanager
    async def kept_fresh(self) -> AsyncIterator[None]:
        """Refresh the view every ``max_age`` in the background while inside."""

        async def refresh_forever() -> None:
            while True:
                try:
                    await self._refresh()
                except Exception as err:  # Temporal out of reach: the next round retries
                    logger.warning("cannot refresh the Registry view: %s", err)
                await asyncio.sleep(self._max_age / 2)

        task = asyncio.create_task(refresh_forever())
        try:
            yield
        finally:
            task.cancel()

    async def decide(self, request: RequestEnvelope) -> RouteDecision:
        """engine.routing.decide on a view fresh enough for this request."""
        if time.monotonic() - self._loaded_at > self._max_age:
            await self._refresh()
        match = self._view.match(request)
        if match.func is None:
            await self._refresh()  # registered a moment ago?
            match = self._view.match(request)
        decision = decide(request, self._view, blobs=self._blobs, match=match)
        decision.search_attributes = self._search_attributes
        return decision

    def doors(self, task_queue: str) -> list[str]:
        """The fast-path doors of the Runners serving ``task_queue`` (HOST:PORT)."""
        return self._doors.get(task_queue, [])

    @activity.defn(name=ROUTE_ACTIVITY)
    async def route(self, request: RequestEnvelope) -> RouteDecision:
        """RequestWorkflow's routing step, as a local activity."""
        return await self.decide(request)

    @activity.defn(name=RESOLVE_ACTIVITY)
    async def resolve(self, func: str, operation_id: str) -> OperationTarget | None:
        """Where FUNC:operationId runs now (a Func's forward), as a local activity."""
        if time.monotonic() - self._loaded_at > self._max_age:
            await self._refresh()
        found = self._view.operation(func, operation_id)
        if found is None:
            await self._refresh()  # registered a moment ago?
            found = self._view.operation(func, operation_id)
        return found
