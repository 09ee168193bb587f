"""Offering a request to the Tron's front door, from a source written in
Python (the nginx front does the same in Lua). The front door routes the
request and starts it with eager start, which a source cannot do itself
(eager start needs the Tron worker in the starting process): about a third
of a request's latency on the queue path (docs/performance.md)."""

from __future__ import annotations

import logging
from dataclasses import asdict
from enum import Enum

import aiohttp
from temporalio.converter import value_to_type

from funcatron_wf.engine.contracts import (
    FRONT_DOOR_ACCEPTED,
    FRONT_DOOR_ANSWERED,
    FRONT_DOOR_PATH,
    FRONT_DOOR_STARTED,
    RequestEnvelope,
    ResponseEnvelope,
)

logger = logging.getLogger(__name__)
OFFER_TIMEOUT = aiohttp.ClientTimeout(total=10, connect=1)


class Offer(Enum):
    ANSWERED = "answered"  # ran on a Runner (the fast path): here is its response
    STARTED = "started"  # wait for its result
    ACCEPTED = "accepted"  # routed and started; it runs on, nobody waits
    NOT_STARTED = "not started"  # start it yourself (start_request)


class FrontDoorClient:
    """``addresses``: HOST:PORT of each Tron's front door (Settings.front_doors);
    a request goes to the next when one does not answer (safe: a request id
    starts once)."""

    def __init__(self, addresses: list[str]) -> None:
        self._urls = [f"http://{address}{FRONT_DOOR_PATH}" for address in addresses]
        self._session: aiohttp.ClientSession | None = None

    async def offer(self, request: RequestEnvelope) -> tuple[Offer, ResponseEnvelope | None]:
        """What the front door did, and the response when it has it already."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=OFFER_TIMEOUT)
        envelope = asdict(request)
        for url in self._urls:
            try:
                async with self._session.post(url, json=envelope) as answer:
                    if answer.status == FRONT_DOOR_ANSWERED:
                        response = value_to_type(ResponseEnvelope, await answer.json())
                        return Offer.ANSWERED, response
                    await answer.read()
                    if answer.status == FRONT_DOOR_STARTED:
                        return Offer.STARTED, None
                    if answer.status == FRONT_DOOR_ACCEPTED:
                        return Offer.ACCEPTED, None
                    return Offer.NOT_STARTED, None  # it answered: start it here
            except (aiohttp.ClientError, TimeoutError) as err:
                logger.info("front door %s did not answer (%r)", url, err)
            except (TypeError, ValueError) as err:  # an answer we cannot read: it ran
                logger.warning("front door %s answered unreadably (%r)", url, err)
                return Offer.STARTED, None
        return Offer.NOT_STARTED, None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
