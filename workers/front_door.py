"""The Tron's front door: route a request, then start it.

The HTTP front (nginx + Lua) offers each request envelope here first
(the wire protocol is in engine/contracts.py: ``FRONT_DOOR_*``). The Tron
routes and validates it with the same function as RequestWorkflow's routing
activity (engine/routing.py). A single operation goes to a Runner of the
chosen version (the fast path: workers/runner_door.py), which starts the
request and runs the operation in the workflow's first task; otherwise (a
chain, no Runner door open, a Runner that declines or does not answer) the
Tron starts it with ``start_request`` and the decision, asking for eager
start: this process is also the Tron worker, so Temporal hands the first
workflow task back in the start reply instead of dispatching it.

Replies: ANSWERED with the response envelope (the fast path); STARTED once
the request has started, or had started before under the same id (the
front then waits for its close event, as for any request); ACCEPTED when
the request is not to be waited for (it runs on under its request id);
anything else means "not started here", and the front starts
RequestWorkflow itself through Temporal's HTTP API, which routes in the
workflow. So a request is never lost to a Tron that is down, and odd input
(bytes that are not UTF-8, say) takes the path that already answers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from temporalio.client import Client
from temporalio.converter import value_to_type
from temporalio.service import RPCError

from funcatron_wf.engine.contracts import (
    FRONT_DOOR_ACCEPTED,
    FRONT_DOOR_ANSWERED,
    FRONT_DOOR_NOT_STARTED,
    FRONT_DOOR_PATH,
    FRONT_DOOR_STARTED,
    RUNNER_DOOR_ACCEPTED,
    RUNNER_DOOR_ANSWERED,
    TRON_TASK_QUEUE,
    RequestEnvelope,
    RouteDecision,
    RoutedRequest,
)
from funcatron_wf.engine.starting import start_request
from funcatron_wf.engine.tracing import request_span
from funcatron_wf.workers.log_context import request_context
from funcatron_wf.workers.route_cache import RouteCache
from funcatron_wf.workers.runner_offer import DoorClient, RunnerReply
from funcatron_wf.workers.ui_codec import add_codec_routes

logger = logging.getLogger(__name__)

START_TIMEOUT = 5.0  # seconds to route, and to start
FRONT_DOOR_BUDGET = 9.0  # seconds for everything; the nginx front gives the front door 10
# seconds to wait for a Runner's answer on the fast path; a call that takes
# longer is answered from its close event, as on the usual path
RUNNER_WAIT = 3.0
MIN_RUNNER_WAIT = 0.5


def _started(decision: RouteDecision) -> web.Response:
    # The front waits for the close event itself, as on its fallback path:
    # waiting here measured no faster, and would hold a long-poll per
    # request in this process. ``wait``: how long the front keeps looking
    # for the answer if it loses sight of the workflow engine.
    policy = decision.policy
    wait = policy.timeout * max(1, policy.retry_attempts)
    return web.json_response({"started": True, "wait": wait}, status=FRONT_DOOR_STARTED)


def _runner_answer(reply: RunnerReply, decision: RouteDecision) -> web.Response:
    if reply.status == RUNNER_DOOR_ANSWERED:  # the response envelope, as the Runner wrote it
        return web.Response(
            status=FRONT_DOOR_ANSWERED, body=reply.body, content_type="application/json"
        )
    if reply.status == RUNNER_DOOR_ACCEPTED:
        return web.json_response({"started": True}, status=FRONT_DOOR_ACCEPTED)
    return _started(decision)  # still running, or started before: its close event answers


def front_door_app(
    client: Client, cache: RouteCache, *, task_queue: str = TRON_TASK_QUEUE, summaries: bool = True
) -> web.Application:
    runners = DoorClient(client.data_converter.payload_converter)

    async def handle(http_request: web.Request) -> web.Response:
        try:
            request = value_to_type(RequestEnvelope, await http_request.json())
        except Exception as err:  # not an envelope we can read: let the front's path answer it
            logger.info("front door: unreadable envelope (%s); the front starts it", err)
            return web.json_response({"started": False}, status=FRONT_DOOR_NOT_STARTED)

        with (
            request_context(request.request_id),  # its log lines name it
            request_span("front door", request) as traceparent,
        ):
            if traceparent is not None:  # a Runner's spans hang under this one
                request.traceparent = traceparent
            return await route_and_start(request)

    async def route_and_start(request: RequestEnvelope) -> web.Response:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FRONT_DOOR_BUDGET
        try:
            # Bounded well inside the front's 10 s (routing may wait on the
            # Registry, the start on the engine): once the front starts the
            # request itself, no start of ours is still trying to land.
            decision = await asyncio.wait_for(cache.decide(request), START_TIMEOUT)
            wait = min(RUNNER_WAIT, deadline - loop.time() - START_TIMEOUT)
            target = decision.one_operation()  # a chain, an answer: the usual path
            doors = cache.doors(target.task_queue) if target is not None else []
            if doors and wait > MIN_RUNNER_WAIT:
                reply = await runners.offer(doors, RoutedRequest(request, decision), wait)
                if reply is not None:
                    return _runner_answer(reply, decision)
            started = await asyncio.wait_for(
                start_request(
                    client, request, decision, task_queue=task_queue, eager=True, summary=summaries
                ),
                max(MIN_RUNNER_WAIT, min(START_TIMEOUT, deadline - loop.time())),
            )
        except (RPCError, TimeoutError) as err:
            logger.warning("front door: request %s not started (%s)", request.request_id, err)
            return web.json_response({"started": False}, status=FRONT_DOOR_NOT_STARTED)
        if not started.waits_for_reply:
            return web.json_response({"started": True}, status=FRONT_DOOR_ACCEPTED)
        return _started(decision)

    async def close_runner_doors(_: web.Application) -> None:
        await runners.close()

    # bodies over the inline limit (256 KiB) arrive as blob refs, so envelopes stay small
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post(FRONT_DOOR_PATH, handle)
    app.on_cleanup.append(close_runner_doors)
    add_codec_routes(app)  # the Temporal UI's, to show JSON bodies as JSON
    return app


@contextlib.asynccontextmanager
async def serve_front_door(
    client: Client,
    cache: RouteCache,
    host: str,
    port: int,
    *,
    task_queue: str = TRON_TASK_QUEUE,
    summaries: bool = True,
) -> AsyncIterator[None]:
    """Serve the front door while the block runs; requests start on ``task_queue``,
    which must be this process's Tron worker's for eager start."""
    app = front_door_app(client, cache, task_queue=task_queue, summaries=summaries)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        logger.info("front door listening on %s:%s", host, port)
        yield
    finally:
        await runner.cleanup()
