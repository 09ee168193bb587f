"""Connecting to Temporal, with an error that says where and what to do."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from temporalio.client import Client

from funcatron_wf.engine.errors import FuncatronError


class TemporalUnreachable(FuncatronError):
    pass


async def connect(address: str, namespace: str = "default") -> Client:
    try:
        return await Client.connect(address, namespace=namespace)
    except RuntimeError as err:
        raise TemporalUnreachable(
            f"cannot reach Temporal at {address}: {err}; start `funcatron-wf dev` "
            "or point --temporal at a running cluster"
        ) from err


async def connect_when_ready(
    address: str,
    namespace: str = "default",
    *,
    timeout: float = 60.0,
    still_starting: Callable[[], bool] = lambda: True,
) -> Client:
    """Connect to a server we just started: its port opens before its frontend
    is healthy ("Frontend is not healthy yet"), so retry until it answers, the
    deadline passes, or ``still_starting`` says the server process is gone."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return await connect(address, namespace)
        except TemporalUnreachable:
            if time.monotonic() > deadline or not still_starting():
                raise
        await asyncio.sleep(0.2)
