"""The Tron: one worker process that runs the request workflows and the
Registry, and routes requests on its cached view of the Registry
(workers/route_cache.py): for RequestWorkflow's routing activity, and, with
``--front-door``, for its HTTP front door (workers/front_door.py), which
routes requests before they start. Both share one cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.chain_run import DetachedStepWorkflow
from funcatron_wf.engine.contracts import TRON_TASK_QUEUE
from funcatron_wf.engine.registry import RegistryWorkflow
from funcatron_wf.engine.registry_client import ensure_registry
from funcatron_wf.engine.request_attributes import register_request_attributes
from funcatron_wf.engine.request_workflow import RequestWorkflow, RoutedRequestWorkflow
from funcatron_wf.engine.spec_store import SpecStore
from funcatron_wf.workers.front_door import serve_front_door
from funcatron_wf.workers.route_cache import RouteCache
from funcatron_wf.workers.serving import DRAIN_TIMEOUT, STICKY_TIMEOUT, serve_until_signalled

logger = logging.getLogger(__name__)
PRUNE_EVERY = 60.0  # seconds between two looks at the blob store (at most)


def tron_worker(
    client: Client,
    *,
    task_queue: str = TRON_TASK_QUEUE,
    blobs: BlobStore | None = None,
    cache: RouteCache | None = None,
) -> Worker:
    cache = cache or RouteCache(client, blobs=blobs)
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[RequestWorkflow, RoutedRequestWorkflow, DetachedStepWorkflow, RegistryWorkflow],
        activities=[cache.route, cache.resolve],
        # Our workflow code is the platform's own, small and reviewed for
        # determinism (and replay-tested); the sandbox's per-task cost is
        # measured in docs/performance.md.
        workflow_runner=UnsandboxedWorkflowRunner(),
        graceful_shutdown_timeout=DRAIN_TIMEOUT,
        sticky_queue_schedule_to_start_timeout=STICKY_TIMEOUT,
    )


async def run_tron(
    client: Client,
    *,
    blobs: BlobStore | None = None,
    specs: SpecStore | None = None,
    ready_file: Path | None = None,
    front_door: tuple[str, int] | None = None,
    summaries: bool = True,
    search_attributes: bool = True,
    blob_retention: float = 24 * 3600.0,
) -> None:
    """The Tron worker; with ``front_door`` (host, port) also its HTTP front
    door; with ``blobs``, it removes bodies older than ``blob_retention`` s."""
    await ensure_registry(client)
    indexed = search_attributes and await register_request_attributes(client)
    cache = RouteCache(client, blobs=blobs, specs=specs, search_attributes=indexed)
    door = (
        serve_front_door(client, cache, *front_door, summaries=summaries)
        if front_door
        else contextlib.nullcontext()
    )
    pruning = asyncio.create_task(keep_pruned(blobs, blob_retention)) if blobs is not None else None
    try:
        async with cache.kept_fresh(), door:
            await serve_until_signalled([tron_worker(client, cache=cache)], ready_file=ready_file)
    finally:
        if pruning is not None:
            pruning.cancel()


async def keep_pruned(blobs: BlobStore, retention: float) -> None:
    """Remove the blob store's bodies older than ``retention`` seconds, now
    and then (every Tron does; each body is removed once)."""
    while True:
        try:
            removed = await asyncio.to_thread(blobs.prune, retention)
        except OSError as err:
            logger.warning("cannot prune the blob store %s: %s", blobs.root, err)
        else:
            if removed:
                logger.info(
                    "removed %d bodies older than %g s from the blob store", removed, retention
                )
        await asyncio.sleep(min(PRUNE_EVERY, retention / 4))
