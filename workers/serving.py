"""Running Temporal workers as a long-lived process: start them, say when
they are ready, and on SIGTERM/SIGINT stop taking work and drain in-flight
tasks within a limit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.worker import Worker

logger = logging.getLogger(__name__)

# the Trons' (workflow tasks and routes take milliseconds); a Runner drains
# for its Funcs' longest call (RegisteredFunc.longest_call)
DRAIN_TIMEOUT = timedelta(seconds=10)

# A workflow's next task goes to the worker that ran its last one (its
# sticky queue). If that worker died, the task waited there for the SDK's
# default 10 s before any other could take it: measured, requests in flight
# stalled 10-12 s after a Tron was killed (docs/performance.md).
STICKY_TIMEOUT = timedelta(seconds=1)


async def serve_until_signalled(
    workers: list[Worker],
    *,
    ready_file: Path | None = None,
    while_polling: contextlib.AbstractAsyncContextManager[Any] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """``while_polling``: entered once the workers poll, left before they
    drain (a Runner's fast-path door: open only while calls are taken);
    ``stop``: set it to drain as a signal does."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        if while_polling is not None:
            await stack.enter_async_context(while_polling)
        queues = ", ".join(worker.task_queue for worker in workers)
        logger.info("polling %s", queues)
        if ready_file is not None:
            ready_file.write_text("ready\n")
        await stop.wait()
        longest = max(
            worker.config().get("graceful_shutdown_timeout") or timedelta() for worker in workers
        )
        logger.info("signalled: draining %s (at most %s)", queues, longest)
