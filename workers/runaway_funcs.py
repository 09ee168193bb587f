"""Python Funcs that never return. A call past its timeout is answered 504
and given up, but Python cannot stop the thread running it (a Node or JVM
host's process is killed instead), nor an async Func that blocks the
Runner's event loop. So a Runner that still holds such a call replaces
itself: it drains and exits, and its supervisor (`up`, `dev`, the
substrate) starts a fresh one; the calls it held are retried by Temporal
as a lost Runner's are.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from concurrent.futures import Future
from typing import Any

logger = logging.getLogger(__name__)

# A call given up on whose thread runs this much longer is taken for stuck.
STUCK_GRACE = 10.0
# An event loop that answers nothing for this long is taken for blocked:
# a heartbeat timeout (5 s by default) has long moved its calls elsewhere.
LOOP_STALL_LIMIT = 30.0
EXIT_STUCK = 3  # the exit code of a Runner that ended because a Func would not


class AbandonedCalls:
    """Threads of sync Func calls given up on (the activity cancelled at the
    operation's timeout) that have not returned yet."""

    def __init__(self) -> None:
        self._running: dict[Future[Any], tuple[str, float]] = {}

    def add(self, operation_id: str, future: Future[Any]) -> None:
        if future.done():
            return
        self._running[future] = (operation_id, time.monotonic())
        future.add_done_callback(self._running.pop)

    def stuck(self) -> list[str]:
        """The operations whose abandoned calls still run after STUCK_GRACE."""
        now = time.monotonic()
        return [op for op, since in list(self._running.values()) if now - since > STUCK_GRACE]

    def any_running(self) -> bool:
        return bool(self._running)


async def stop_when_stuck(abandoned: AbandonedCalls, stop: asyncio.Event) -> None:
    """Ask the Runner to drain (``stop``) once a Func's call is stuck."""
    while not stop.is_set():
        await asyncio.sleep(1)
        stuck = abandoned.stuck()
        if stuck:
            logger.error(
                "%s still running %g s after its timeout (a Python thread cannot be stopped): "
                "this Runner drains and exits, to be replaced",
                ", ".join(sorted(set(stuck))),
                STUCK_GRACE,
            )
            stop.set()


def exit_if_threads_stuck(abandoned: AbandonedCalls) -> None:
    """After the drain: an abandoned thread would keep the process from ever
    exiting (the executor waits for it), so leave without waiting."""
    if abandoned.any_running():
        logger.error(
            "exiting without waiting for Func calls still running in threads, given up at their "
            "timeout or the drain's (exit %d)",
            EXIT_STUCK,
        )
        logging.shutdown()
        os._exit(EXIT_STUCK)


def watch_the_loop(loop: asyncio.AbstractEventLoop) -> threading.Thread:
    """A thread that ends the process when ``loop`` stops answering for
    LOOP_STALL_LIMIT seconds (an async Func that blocks it: `time.sleep`, a
    busy loop); nothing else in the Runner can run meanwhile."""
    answered = [time.monotonic()]

    def pong() -> None:
        answered[0] = time.monotonic()

    def watch() -> None:
        while not loop.is_closed():
            try:
                loop.call_soon_threadsafe(pong)
            except RuntimeError:  # closed meanwhile
                return
            time.sleep(1)
            if time.monotonic() - answered[0] > LOOP_STALL_LIMIT:
                logger.critical(
                    "the event loop has not run for %g s (an async Func blocking it?): "
                    "exiting to be replaced",
                    LOOP_STALL_LIMIT,
                )
                logging.shutdown()
                os._exit(EXIT_STUCK)

    thread = threading.Thread(target=watch, name="loop-watchdog", daemon=True)
    thread.start()
    return thread
