"""The queue source: a durable RabbitMQ queue, each message a request.

The source contract, as every source keeps it (the HTTP front does the same
in Lua): build a request envelope (sources/queue/messages.py), start it with
``start_request``, hand the response back. Here:

- a message is acknowledged only once Temporal has durably accepted its
  start, and, with ``reply_to``, once its reply was confirmed by the broker
  (publisher confirms). A source that dies before the ack has the message
  redelivered; its request id is the same, so the Func does not run again
  and the reply is the first run's;
- with ``reply_to``, the response goes to that queue with the message's
  ``correlation_id``, the response's content type, its status in
  ``x-funcatron-status`` and the request id in ``x-funcatron-request-id``;
  without, the Func runs and its result stays in Temporal (the request's
  workflow, found by its request id);
- a message that cannot become a request (no route, a body it cannot
  carry), or that routing answers with a 4xx (no such operation, a request
  that breaks its schema), is dead-lettered: copied to the exchange
  ``funcatron.dead`` with routing key = this queue's name and the reason in
  ``x-funcatron-error``, then acknowledged. The source declares a durable
  queue ``<queue>.dead`` bound there, so nothing is dropped;
- Temporal unreachable, or a start that does not answer within
  START_TIMEOUT: the message is requeued (after a pause), never acked
  early. RabbitMQ lost: aio-pika's robust connection reconnects, and the
  broker redelivers what was not acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractIncomingMessage
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError, DeliveryError
from temporalio.client import Client, WorkflowContinuedAsNewError, WorkflowFailureError
from temporalio.service import RPCError

from funcatron_wf.engine.blobs import BlobStore, body_bytes
from funcatron_wf.engine.contracts import (
    DEFAULT_INLINE_BODY_MAX,
    TRON_TASK_QUEUE,
    RequestEnvelope,
    ResponseEnvelope,
)
from funcatron_wf.engine.starting import StartedRequest, start_request
from funcatron_wf.engine.tracing import request_span
from funcatron_wf.sources.front_door_client import FrontDoorClient, Offer
from funcatron_wf.sources.queue.bindings import BindingNotRegistered, QueueBindings
from funcatron_wf.sources.queue.messages import UnusableMessage, message_envelope

logger = logging.getLogger(__name__)

DEAD_LETTER_EXCHANGE = "funcatron.dead"
ERROR_HEADER = "x-funcatron-error"
STATUS_HEADER = "x-funcatron-status"
REQUEST_ID_HEADER = "x-funcatron-request-id"
START_TIMEOUT = 30.0  # seconds for Temporal to accept a start (and route a no-reply message)
REQUEUE_PAUSE = 1.0  # seconds before a message that could not start goes back


def dead_letter_queue(queue: str) -> str:
    return f"{queue}.dead"


@dataclass
class QueueSourceConfig:
    amqp_url: str
    queue: str
    prefetch: int = 32
    operation: str | None = None  # FUNC:OPERATION_ID the queue is bound to
    blobs: BlobStore | None = None
    inline_body_max: int = DEFAULT_INLINE_BODY_MAX
    task_queue: str = TRON_TASK_QUEUE  # the Trons'
    # the Trons' front doors (HOST:PORT), offered each request first
    front_doors: list[str] = field(default_factory=list)
    summaries: bool = True  # a one-line summary on each workflow it starts itself


class QueueSource:
    def __init__(self, client: Client, config: QueueSourceConfig) -> None:
        self._client = client
        self._config = config
        self._bindings = QueueBindings(client, config.queue, config.operation)
        self._front_door = FrontDoorClient(config.front_doors) if config.front_doors else None
        self._in_flight: set[asyncio.Task[None]] = set()

    async def run(self, stop: asyncio.Event, *, ready: asyncio.Event | None = None) -> None:
        """Consume until ``stop`` is set; then stop taking messages and let
        those in flight finish (unfinished ones are redelivered)."""
        config = self._config
        connection = await aio_pika.connect_robust(config.amqp_url)
        async with connection:
            # confirms: a reply counts once the broker has it; returns raised:
            # a reply to a queue that does not exist is known, not lost quietly
            channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
            await channel.set_qos(prefetch_count=config.prefetch)
            dead = await self._declare(channel)
            queue = await channel.get_queue(config.queue)

            async def on_message(message: AbstractIncomingMessage) -> None:
                # each message on its own task: prefetch bounds how many at once
                task = asyncio.create_task(self._handle(message, channel, dead))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

            consumer_tag = await queue.consume(on_message)
            logger.info("consuming %s (prefetch %s)", config.queue, config.prefetch)
            if ready is not None:
                ready.set()
            await stop.wait()
            await queue.cancel(consumer_tag)
            if self._in_flight:
                await asyncio.wait(self._in_flight, timeout=START_TIMEOUT)
            if self._front_door is not None:
                await self._front_door.close()

    async def _declare(self, channel: AbstractChannel) -> AbstractExchange:
        queue = self._config.queue
        await channel.declare_queue(queue, durable=True)
        dead = await channel.declare_exchange(
            DEAD_LETTER_EXCHANGE, aio_pika.ExchangeType.DIRECT, durable=True
        )
        dead_queue = await channel.declare_queue(dead_letter_queue(queue), durable=True)
        await dead_queue.bind(dead, routing_key=queue)
        return dead

    async def _handle(
        self, message: AbstractIncomingMessage, channel: AbstractChannel, dead: AbstractExchange
    ) -> None:
        try:
            await self._handle_message(message, channel, dead)
        except (AMQPError, ChannelInvalidStateError, ConnectionError) as err:
            # Not acknowledged: the broker redelivers it once a connection is
            # back, and its request id keeps its Func from running again.
            logger.warning(
                "lost the broker while handling a message from %s (%r); it comes again",
                self._config.queue,
                err,
            )
        except Exception as err:  # never leave a message unacknowledged and held
            logger.exception("handling a message from %s failed", self._config.queue)
            with contextlib.suppress(AMQPError, ChannelInvalidStateError, ConnectionError):
                await self._requeue(message, f"{type(err).__name__}: {err}")

    async def _handle_message(
        self, message: AbstractIncomingMessage, channel: AbstractChannel, dead: AbstractExchange
    ) -> None:
        config = self._config
        try:
            envelope = message_envelope(
                message,
                queue=config.queue,
                binding=await self._bindings.binding(),
                blobs=config.blobs,
                inline_body_max=config.inline_body_max,
            )
        except UnusableMessage as err:
            await self._dead_letter(message, dead, str(err))
            return
        except (RPCError, BindingNotRegistered) as err:  # the Registry, later
            await self._requeue(message, str(err))
            return
        except OSError as err:  # the blob store's disk full, say: later
            await self._requeue(message, f"the blob store cannot take its body: {err.strerror}")
            return
        envelope.reply = message.reply_to is not None
        with request_span("queue message", envelope) as traceparent:
            envelope.traceparent = traceparent
            await self._start_and_answer(message, channel, dead, envelope)

    async def _start_and_answer(
        self,
        message: AbstractIncomingMessage,
        channel: AbstractChannel,
        dead: AbstractExchange,
        envelope: RequestEnvelope,
    ) -> None:
        try:
            # durably started once this returns
            started, routed = await asyncio.wait_for(self._start(envelope), START_TIMEOUT)
            if message.reply_to:
                answer: ResponseEnvelope | None = await started.response()
            elif routed or not started.first_start:
                answer = None  # routed, or admitted by an earlier delivery: it runs on
            else:
                answer = await asyncio.wait_for(routing_answer(started), START_TIMEOUT)
        except (TimeoutError, RPCError) as err:
            await self._requeue(message, f"request {envelope.request_id}: {err!r}")
            return
        except WorkflowFailureError as err:  # ended without an answer (terminated, say)
            reason = f"request {envelope.request_id} ended without an answer: {err.cause}"
            await self._dead_letter(message, dead, reason)
            return
        if message.reply_to and answer is not None:
            try:
                await self._reply(channel, message, answer)
            except DeliveryError as err:  # no such reply queue: the client is gone
                logger.warning(
                    "request %s: its reply to %r could not be delivered (%r); the answer "
                    "stays in Temporal under the request id",
                    envelope.request_id,
                    message.reply_to,
                    err,
                )
        if answer is not None and refused_by_routing(answer):
            await self._dead_letter(message, dead, refusal_reason(answer))
            return
        await message.ack()

    async def _start(self, envelope: RequestEnvelope) -> tuple[StartedRequest, bool]:
        """Started, by the front door when one answers, else here; and whether
        it is known to be routed (a no-reply request the front door accepted)."""
        if self._front_door is not None:
            offer, answer = await self._front_door.offer(envelope)
            if offer is not Offer.NOT_STARTED:
                handle = self._client.get_workflow_handle(
                    envelope.request_id, result_type=ResponseEnvelope
                )
                waits = offer is not Offer.ACCEPTED
                started = StartedRequest(
                    handle, first_start=True, waits_for_reply=waits, answer=answer
                )
                return started, not waits
        started = await start_request(
            self._client,
            envelope,
            task_queue=self._config.task_queue,
            summary=self._config.summaries,
        )
        return started, False

    async def _reply(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, answer: ResponseEnvelope
    ) -> None:
        await channel.default_exchange.publish(
            aio_pika.Message(
                body=b"" if answer.body is None else body_bytes(answer.body, self._config.blobs),
                content_type=answer.headers.get("content-type"),
                correlation_id=message.correlation_id,
                headers={STATUS_HEADER: answer.status, REQUEST_ID_HEADER: answer.request_id},
            ),
            routing_key=message.reply_to or "",
        )

    async def _dead_letter(
        self, message: AbstractIncomingMessage, dead: AbstractExchange, reason: str
    ) -> None:
        logger.warning("dead-lettering a message from %s: %s", self._config.queue, reason)
        await dead.publish(
            aio_pika.Message(
                body=message.body,
                content_type=message.content_type,
                correlation_id=message.correlation_id,
                message_id=message.message_id,
                reply_to=message.reply_to,
                headers={**(message.headers or {}), ERROR_HEADER: reason},
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            routing_key=self._config.queue,
        )
        await message.ack()

    async def _requeue(self, message: AbstractIncomingMessage, why: str) -> None:
        logger.warning("requeueing a message from %s: %s", self._config.queue, why)
        await asyncio.sleep(REQUEUE_PAUSE)
        await message.nack(requeue=True)


async def routing_answer(started: StartedRequest) -> ResponseEnvelope | None:
    """A no-reply request's answer from routing: its first run's result when
    routing refused it, None once it was routed (it runs on, continued-as-new)."""
    try:
        return await started.handle.result(follow_runs=False)
    except WorkflowContinuedAsNewError:
        return None


def refused_by_routing(answer: ResponseEnvelope) -> bool:
    """A 4xx given before any Func ran (no route, a request breaking its schema)."""
    return answer.func is None and 400 <= answer.status < 500


def refusal_reason(answer: ResponseEnvelope) -> str:
    try:
        document = json.loads(answer.body.data) if answer.body else {}
    except ValueError:
        document = {}
    reason = f"{answer.status} {document.get('title', '')}".strip()
    if document.get("detail"):
        reason += f": {document['detail']}"
    if document.get("invalid_params"):
        reason += (
            " ("
            + "; ".join(
                f"{p.get('in')} {p.get('name')}: {p.get('reason')}"
                for p in document["invalid_params"]
            )
            + ")"
        )
    return reason


async def serve_queue_source(
    client: Client, config: QueueSourceConfig, *, ready_file: Path | None = None
) -> None:
    """The source as a long-lived process: until SIGTERM/SIGINT, then drain."""
    stop, ready = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    source = QueueSource(client, config)
    running = asyncio.create_task(source.run(stop, ready=ready))
    ready_or_done = asyncio.create_task(ready.wait())
    await asyncio.wait({running, ready_or_done}, return_when=asyncio.FIRST_COMPLETED)
    if ready.is_set() and ready_file is not None:
        ready_file.write_text("ready\n")
    ready_or_done.cancel()
    await running
