"""The Tron's front door: route a request, then start it.

The HTTP front (nginx + Lua) offers each request envelope here first. The
Tron routes and validates it with the same code as RequestWorkflow's local
activity, then starts RoutedRequestWorkflow with the decision as its input,
asking for eager start: this process is also the Tron worker, so Temporal
hands the first workflow task back in the start reply instead of
dispatching it. Measured against the floor, that halves what the platform
adds to a request's latency (docs/performance.md).

Replies: 201 once the request has started (the front then waits for its
close event, as for any request); 202 when the request is not to be waited
for (it runs on under its request id); anything else means "not started
here", and the front starts RequestWorkflow itself through Temporal's HTTP
API, which routes in the workflow. So a request is never
lost to a Tron that is down, and odd input (bytes that are not UTF-8, say)
takes the path that already answers it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from temporalio.client import Client
from temporalio.converter import value_to_type
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from funcatron_wf.engine.envelopes import RequestEnvelope
from funcatron_wf.engine.queues import TRON_TASK_QUEUE
from funcatron_wf.engine.request_workflow import RoutedRequestWorkflow
from funcatron_wf.workers.tron import RouteCache

logger = logging.getLogger(__name__)

REQUESTS_PATH = "/requests"
STARTED = 201  # the front waits for the close event
ACCEPTED = 202  # a no-reply request: the front answers 202 at once
NOT_STARTED = 503  # the front falls back to starting the request itself


def front_door_app(
    client: Client, cache: RouteCache, *, task_queue: str = TRON_TASK_QUEUE
) -> web.Application:
    async def handle(http_request: web.Request) -> web.Response:
        try:
            request = value_to_type(RequestEnvelope, await http_request.json())
        except Exception as err:  # not an envelope we can read: let the front's path answer it
            logger.info("front door: unreadable envelope (%s); the front starts it", err)
            return web.json_response({"started": False}, status=NOT_STARTED)
        try:
            decision = await cache.decide(request)
            handle = await client.start_workflow(
                RoutedRequestWorkflow.run,
                args=[request, decision],
                id=request.request_id,
                task_queue=task_queue,
                request_eager_start=True,
            )
        except (RPCError, WorkflowAlreadyStartedError) as err:
            logger.warning("front door: request %s not started (%s)", request.request_id, err)
            return web.json_response({"started": False}, status=NOT_STARTED)
        if decision.target is not None and not (request.reply and decision.policy.reply):
            return web.json_response({"started": True}, status=ACCEPTED)
        # The front waits for the close event itself, as on its fallback path:
        # waiting here measured no faster, and would hold a long-poll per
        # request in this process.
        return web.json_response({"started": True, "run_id": handle.first_execution_run_id},
                                 status=STARTED)  # fmt: skip

    # bodies over the inline limit (256 KiB) arrive as blob refs, so envelopes stay small
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app.router.add_post(REQUESTS_PATH, handle)
    return app


@contextlib.asynccontextmanager
async def serve_front_door(
    client: Client, cache: RouteCache, host: str, port: int, *, task_queue: str = TRON_TASK_QUEUE
) -> AsyncIterator[None]:
    """Serve the front door while the block runs; requests start on ``task_queue``,
    which must be this process's Tron worker's for eager start."""
    runner = web.AppRunner(front_door_app(client, cache, task_queue=task_queue), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        logger.info("front door listening on %s:%s", host, port)
        yield
    finally:
        await runner.cleanup()
