"""The Tron worker: runs the request workflows and the Registry, and routes
requests (match, then validate with openapi-core) from a cached snapshot of
the Registry: for RequestWorkflow's local activity, and for the front door
(workers/tron_front.py), which shares the cache.

The cache is refreshed when it is older than ``max_age`` and on every miss,
so a route registered before a request began always answers. A refresh asks
the Registry for its generation and reads the whole snapshot (every Func's
spec) only when that moved. Concurrent refreshes coalesce: a caller waiting
on the lock reuses any refresh that started after it asked, so a flood of
unknown paths costs one query in flight at a time, not one per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.envelopes import RequestEnvelope, ResponseEnvelope, problem_response
from funcatron_wf.engine.queues import TRON_TASK_QUEUE
from funcatron_wf.engine.registry import RegistryWorkflow
from funcatron_wf.engine.registry_client import (
    ensure_registry,
    read_registry,
    read_registry_generation,
)
from funcatron_wf.engine.request_workflow import (
    ROUTE_ACTIVITY,
    FuncTarget,
    RequestWorkflow,
    RouteDecision,
    RoutedRequestWorkflow,
)
from funcatron_wf.engine.routing import RegisteredFunc, RouteMatch, RouteTable
from funcatron_wf.engine.validation import OperationValidator, ValidatedRequest
from funcatron_wf.workers.serving import DRAIN_TIMEOUT, serve_until_signalled

logger = logging.getLogger(__name__)


class RouteCache:
    def __init__(
        self, client: Client, *, blobs: BlobStore | None = None, max_age: float = 1.0
    ) -> None:
        self._client = client
        self._blobs = blobs
        self._max_age = max_age
        self._table = RouteTable([])
        self._generation = -1
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()
        self._validators: dict[str, OperationValidator] = {}

    async def _refresh(self) -> None:
        asked_at = time.monotonic()
        async with self._lock:
            if self._loaded_at >= asked_at:
                return  # a refresh that started after we asked has finished: share it
            started_at = time.monotonic()
            try:
                # The snapshot carries every Func's spec: read it only when it changed.
                if await read_registry_generation(self._client) != self._generation:
                    snapshot = await read_registry(self._client)
                    self._table = RouteTable(snapshot.funcs)
                    self._generation = snapshot.generation
            except RPCError as err:
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
                return  # nothing registered yet
            self._loaded_at = started_at

    def _match(self, request: RequestEnvelope) -> RouteMatch:
        return self._table.match(request.host, request.method, request.path)

    def _validator(self, func: RegisteredFunc) -> OperationValidator:
        validator = self._validators.get(func.sha)
        if validator is None:
            validator = self._validators[func.sha] = OperationValidator(func.openapi)
        return validator

    def _body_bytes(self, request: RequestEnvelope) -> bytes | None:
        if request.body is None:
            return None
        if request.body.encoding == "ref" and self._blobs is None:
            raise ApplicationError("a body in the blob store reached a Tron without --blob-dir")
        return self._blobs.body_bytes(request.body) if self._blobs else request.body.raw()

    @activity.defn(name=ROUTE_ACTIVITY)
    async def route(self, request: RequestEnvelope) -> RouteDecision:
        """RequestWorkflow's routing step, as a local activity."""
        return await self.decide(request)

    async def decide(self, request: RequestEnvelope) -> RouteDecision:
        """Match, then validate: what to run, or the answer (404, 405, 400, ...)."""
        if time.monotonic() - self._loaded_at > self._max_age:
            await self._refresh()
        match = self._match(request)
        if match.func is None:
            await self._refresh()
            match = self._match(request)
        if match.func is None or match.route is None:
            return RouteDecision(error=no_route_response(request, match))
        try:
            validated = self._validator(match.func).validate(
                request, match.operation_path, self._body_bytes(request)
            )
        except Exception:  # bad input must get an answer, never a stuck workflow
            logger.exception("request %s: validation failed", request.request_id)
            return RouteDecision(
                error=problem_response(
                    request.request_id, 400, "Bad Request", "the request could not be validated"
                )
            )
        error = invalid_request_response(request, validated)
        if error is not None:
            return RouteDecision(error=error)
        func = match.func
        return RouteDecision(
            target=FuncTarget(
                name=func.name, sha=func.sha, task_queue=func.task_queue, settings=func.settings
            ),
            operation_id=match.route.operation_id,
            operation_path=match.operation_path,
            policy=match.route.policy,
            parameters=validated.parameters,
            form_body=validated.form_body,
        )


def no_route_response(request: RequestEnvelope, match: RouteMatch) -> ResponseEnvelope:
    if match.allowed_methods:
        response = problem_response(
            request.request_id,
            405,
            "Method Not Allowed",
            f"{request.method} is not allowed on {request.path}",
        )
        response.headers["allow"] = ", ".join(match.allowed_methods)
        return response
    return problem_response(
        request.request_id,
        404,
        "Not Found",
        f"no Func serves {request.method} {request.path} on host {request.host!r}",
    )


def invalid_request_response(
    request: RequestEnvelope, validated: ValidatedRequest
) -> ResponseEnvelope | None:
    if validated.unsupported_media_type:
        return problem_response(
            request.request_id, 415, "Unsupported Media Type", validated.unsupported_media_type
        )
    if validated.unauthorized:
        return problem_response(
            request.request_id,
            401,
            "Unauthorized",
            "the operation's security requirements are not met",
        )
    if validated.violations:
        return problem_response(
            request.request_id,
            400,
            "Bad Request",
            f"the request breaks its OpenAPI operation in {len(validated.violations)} place(s)",
            extra={"invalid_params": validated.violations},
        )
    return None


def tron_worker(
    client: Client,
    *,
    task_queue: str = TRON_TASK_QUEUE,
    blobs: BlobStore | None = None,
    cache: RouteCache | None = None,
) -> Worker:
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[RequestWorkflow, RoutedRequestWorkflow, RegistryWorkflow],
        activities=[(cache or RouteCache(client, blobs=blobs)).route],
        # Our workflow code is the platform's own, small and reviewed for
        # determinism (and replay-tested); the sandbox's per-task cost is
        # measured in docs/performance.md.
        workflow_runner=UnsandboxedWorkflowRunner(),
        graceful_shutdown_timeout=DRAIN_TIMEOUT,
    )


async def run_tron(
    client: Client,
    *,
    blobs: BlobStore | None = None,
    ready_file: Path | None = None,
    front_door: tuple[str, int] | None = None,
) -> None:
    """The Tron worker; with ``front_door`` (host, port) also its HTTP front
    door, which routes requests before starting them (workers/tron_front.py)."""
    # imported here: the front door builds on this module's RouteCache
    from funcatron_wf.workers.tron_front import serve_front_door

    cache = RouteCache(client, blobs=blobs)
    await ensure_registry(client)
    door = serve_front_door(client, cache, *front_door) if front_door else contextlib.nullcontext()
    async with door:  # the worker and the front door share the route cache
        await serve_until_signalled([tron_worker(client, cache=cache)], ready_file=ready_file)
