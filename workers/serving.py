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

from temporalio.worker import Worker

logger = logging.getLogger(__name__)

# the Trons' (workflow tasks and routes take milliseconds); a Runner drains
# for its Funcs' longest call (RegisteredFunc.longest_call)
DRAIN_TIMEOUT = timedelta(seconds=10)


async def serve_until_signalled(workers: list[Worker], *, ready_file: Path | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(worker)
        queues = ", ".join(worker.task_queue for worker in workers)
        logger.info("polling %s", queues)
        if ready_file is not None:
            ready_file.write_text("ready\n")
        await stop.wait()
        longest = max(
            worker.config().get("graceful_shutdown_timeout") or timedelta() for worker in workers
        )
        logger.info("signalled: draining %s (at most %s)", queues, longest)
