"""Offering a routed request to a Runner's door (the fast path), from the
Tron's front door. Which Runner: the next in turn among the doors the
Registry lists for the version's task queue, passing over for a while one
that did not answer (a Runner killed before it closed its door).

What comes back (``RunnerReply``) says what the front door answers; a
reply of None means the request was not started there, or that it cannot
be known, and the front door starts it the usual way: a request id starts
once (engine/starting.py), so a request a Runner did start is found, never
run twice.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass

import aiohttp
from temporalio.converter import PayloadConverter

from funcatron_wf.engine.contracts import (
    RUNNER_DOOR_ACCEPTED,
    RUNNER_DOOR_ANSWERED,
    RUNNER_DOOR_PATH,
    RUNNER_DOOR_STARTED,
    RUNNER_DOOR_STARTED_BEFORE,
    RUNNER_DOOR_WAIT_HEADER,
    RoutedRequest,
)

logger = logging.getLogger(__name__)

PASS_OVER = 10.0  # seconds a door that did not answer is passed over
CONNECT_TIMEOUT = 1.0


@dataclass(frozen=True)
class RunnerReply:
    status: int  # RUNNER_DOOR_ANSWERED, _STARTED, _ACCEPTED or _STARTED_BEFORE
    body: bytes = b""  # the response envelope (JSON), when answered


class DoorClient:
    def __init__(self, to_json: PayloadConverter) -> None:
        self._to_json = to_json
        self._session: aiohttp.ClientSession | None = None
        self._turn = itertools.count()
        self._passed_over: dict[str, float] = {}  # address -> until when

    def _pick(self, addresses: list[str]) -> str | None:
        now = time.monotonic()
        usable = [a for a in addresses if self._passed_over.get(a, 0.0) <= now]
        if not usable:
            return None
        return usable[next(self._turn) % len(usable)]

    async def offer(
        self, addresses: list[str], routed: RoutedRequest, wait: float
    ) -> RunnerReply | None:
        """Offer ``routed`` to one of ``addresses``; wait up to ``wait``
        seconds for its answer."""
        address = self._pick(addresses)
        if address is None:
            return None
        if self._session is None:
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        timeout = aiohttp.ClientTimeout(total=wait + 1.0, connect=CONNECT_TIMEOUT)
        try:
            async with self._session.post(
                f"http://{address}{RUNNER_DOOR_PATH}",
                data=self._to_json.to_payload(routed).data,
                headers={"Content-Type": "application/json", RUNNER_DOOR_WAIT_HEADER: f"{wait:g}"},
                timeout=timeout,
            ) as reply:
                body = await reply.read()
        except aiohttp.ClientError as err:  # refused, cut off, or not HTTP we can read
            if isinstance(err, aiohttp.ClientConnectorError):  # nobody listens there
                self._passed_over[address] = time.monotonic() + PASS_OVER
            logger.info("Runner door %s did not answer (%r)", address, err)
            return None
        except TimeoutError:
            logger.info("Runner door %s did not answer in %.1f s", address, wait + 1.0)
            return None
        if reply.status in (
            RUNNER_DOOR_ANSWERED, RUNNER_DOOR_STARTED, RUNNER_DOOR_ACCEPTED,
            RUNNER_DOOR_STARTED_BEFORE,
        ):  # fmt: skip
            return RunnerReply(reply.status, body)
        logger.debug("Runner door %s declined: %s %s", address, reply.status, body[:200])
        return None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
