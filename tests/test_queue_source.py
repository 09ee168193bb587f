"""The queue source against a real RabbitMQ (Debian's rabbitmq-server, started
here) and the session's Temporal server, with a Tron and a Runner in this
process: request/reply from a plain pika client and from aio-pika,
fire-and-forget, a message id sent twice, and the dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import pika
import pytest
from temporalio.client import Client

from funcatron_wf.deploy.rabbitmq import (
    LocalBroker,
    remove_data,
    start_local_broker,
    wait_for_broker,
)
from funcatron_wf.deploy.temporal_dev import dev_server
from funcatron_wf.engine.registry_client import ensure_registry, register_func
from funcatron_wf.engine.temporal_client import connect_when_ready
from funcatron_wf.sources.queue.source import QueueSource, QueueSourceConfig, dead_letter_queue
from funcatron_wf.workers.front_door import serve_front_door
from funcatron_wf.workers.func_folder import FuncFolder
from funcatron_wf.workers.route_cache import RouteCache
from funcatron_wf.workers.tron import tron_worker
from tests.conftest import (
    STACK_NAMESPACE,
    TemporalServer,
    free_port,
    python_runner,
    write_func_folder,
)

HOST = "queue.test"
SPEC = f"""openapi: 3.0.3
info: {{title: queue test, version: '1'}}
servers: [{{url: 'http://{HOST}/'}}]
paths:
  /greet:
    post:
      operationId: queue_ops.greet
      requestBody:
        required: true
        content:
          application/json:
            schema:
              type: object
              required: [name]
              properties: {{name: {{type: string}}}}
      responses: {{'200': {{description: ok}}}}
  /record:
    post:
      operationId: queue_ops.record
      x-funcatron-queue: {{record_queue}}
      responses: {{'200': {{description: ok}}}}
"""
CODE = """import pathlib
CALLS = pathlib.Path({calls!r})

def greet(body, request):
    with CALLS.open("a") as calls:
        calls.write(request.request_id + " " + body["name"] + "\\n")
    return {{"greeting": "Hello, " + body["name"], "request_id": request.request_id}}

def record(body, request):
    with CALLS.open("a") as calls:
        calls.write(request.request_id + " " + body + "\\n")
"""


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    data_dir = tmp_path_factory.mktemp("rabbitmq")
    started = start_local_broker(data_dir)
    try:
        yield started
    finally:
        started.stop()
        remove_data(data_dir)


@dataclass
class QueueStack:
    client: Client
    broker: LocalBroker
    calls: Path
    record_queue: str
    front_door: str
    folder: FuncFolder

    def calls_seen(self) -> list[str]:
        """One line per Func call: the request id, then what the call was for."""
        return self.calls.read_text().splitlines() if self.calls.exists() else []

    def runs_of(self, request_id: str) -> int:
        return sum(1 for line in self.calls_seen() if line.split()[0] == request_id)

    @contextlib.asynccontextmanager
    async def serving(
        self,
        queue: str,
        *,
        broker: LocalBroker | None = None,
        prefetch: int = 8,
        front_door: bool = False,
        client: Client | None = None,
    ) -> AsyncIterator[None]:
        """A queue source on ``queue`` while the block runs; with ``front_door``
        it offers each request to the Tron's front door first."""
        stop, ready = asyncio.Event(), asyncio.Event()
        config = QueueSourceConfig(
            amqp_url=(broker or self.broker).url,
            queue=queue,
            prefetch=prefetch,
            front_doors=[self.front_door] if front_door else [],
        )
        source = QueueSource(client or self.client, config)
        running = asyncio.create_task(source.run(stop, ready=ready))
        await asyncio.wait_for(ready.wait(), 30)
        try:
            yield
        finally:
            stop.set()
            await running


@pytest.fixture(scope="module")
async def stack(
    temporal_server: TemporalServer, broker: LocalBroker, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[QueueStack]:
    folder_parent = tmp_path_factory.mktemp("funcs")
    calls = folder_parent / "calls"
    record_queue = f"record-{uuid.uuid4().hex[:8]}"
    folder = FuncFolder.load(
        write_func_folder(
            folder_parent / "queuetest",
            SPEC.replace("{record_queue}", record_queue),
            {"queue_ops.py": CODE.format(calls=str(calls))},
        )
    )
    client = await Client.connect(temporal_server.address, namespace=STACK_NAMESPACE)
    cache, port = RouteCache(client), free_port()
    with ThreadPoolExecutor(4) as executor:
        async with (
            tron_worker(client, cache=cache),
            serve_front_door(client, cache, "127.0.0.1", port),
            python_runner(client, folder, executor),
        ):
            await ensure_registry(client)
            await register_func(client, folder.registration())
            yield QueueStack(client, broker, calls, record_queue, f"127.0.0.1:{port}", folder)


def route_headers(path: str = "/greet") -> dict[str, str]:
    return {"x-funcatron-host": HOST, "x-funcatron-method": "POST", "x-funcatron-path": path}


def pika_rpc(url: str, queue: str, body: bytes, *, message_id: str | None = None) -> tuple:
    """A request/reply round trip with a plain pika client, as a user's code does it."""
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        reply_queue = channel.queue_declare("", exclusive=True).method.queue
        correlation_id = uuid.uuid4().hex
        channel.basic_publish(
            "",
            queue,
            body,
            pika.BasicProperties(
                content_type="application/json",
                reply_to=reply_queue,
                correlation_id=correlation_id,
                message_id=message_id,
                headers=route_headers(),
                delivery_mode=2,
            ),
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            method, properties, reply = channel.basic_get(reply_queue, auto_ack=True)
            if method is not None:
                assert properties.correlation_id == correlation_id
                return properties, reply
            connection.sleep(0.05)
        raise AssertionError("no reply within 60 s")
    finally:
        connection.close()


async def test_request_reply_from_a_plain_pika_client(stack: QueueStack) -> None:
    queue = f"greet-{uuid.uuid4().hex[:8]}"
    async with stack.serving(queue):
        properties, reply = await asyncio.to_thread(
            pika_rpc, stack.broker.url, queue, b'{"name": "Ada"}'
        )
    assert properties.headers["x-funcatron-status"] == 200
    assert properties.content_type == "application/json"
    document = json.loads(reply)
    assert document["greeting"] == "Hello, Ada"
    assert properties.headers["x-funcatron-request-id"] == document["request_id"]


async def aio_pika_rpc(
    url: str, queue: str, body: bytes, *, message_id: str | None = None, headers: dict | None = None
) -> aio_pika.abc.AbstractIncomingMessage:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        replies = await channel.declare_queue("", exclusive=True)
        await channel.default_exchange.publish(
            aio_pika.Message(
                body,
                content_type="application/json",
                reply_to=replies.name,
                correlation_id=uuid.uuid4().hex,
                message_id=message_id,
                headers=headers if headers is not None else route_headers(),
            ),
            routing_key=queue,
        )
        async with replies.iterator(timeout=60) as incoming:
            async for reply in incoming:
                await reply.ack()
                return reply
    raise AssertionError("no reply")


async def test_the_same_message_id_runs_once_and_is_answered_each_time(
    stack: QueueStack,
) -> None:
    queue = f"greet-{uuid.uuid4().hex[:8]}"
    async with stack.serving(queue):
        first, second = [
            await aio_pika_rpc(stack.broker.url, queue, b'{"name": "Bob"}', message_id="order-42")
            for _ in range(2)
        ]
    request_id = first.headers["x-funcatron-request-id"]
    assert second.headers["x-funcatron-request-id"] == request_id
    assert json.loads(first.body) == json.loads(second.body)
    assert stack.runs_of(request_id) == 1


async def wait_for(condition, timeout: float = 60.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        await asyncio.sleep(0.05)


async def publish(url: str, queue: str, body: bytes, **properties: object) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.default_exchange.publish(
            aio_pika.Message(body, **properties),
            routing_key=queue,  # type: ignore[arg-type]
        )


async def test_fire_and_forget_to_a_queue_bound_by_its_operation(stack: QueueStack) -> None:
    mark = uuid.uuid4().hex
    async with stack.serving(stack.record_queue):
        await publish(
            stack.broker.url, stack.record_queue, mark.encode(), content_type="text/plain"
        )
        await wait_for(lambda: any(line.endswith(mark) for line in stack.calls_seen()))


async def dead_letters(
    url: str, queue: str, count: int
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        dead = await channel.declare_queue(dead_letter_queue(queue), durable=True)
        found = []
        deadline = time.monotonic() + 60
        while len(found) < count and time.monotonic() < deadline:
            message = await dead.get(no_ack=True, fail=False)
            if message is None:
                await asyncio.sleep(0.05)
            else:
                found.append(message)
        return found


async def test_unroutable_unknown_and_invalid_messages_are_dead_lettered_with_why(
    stack: QueueStack,
) -> None:
    queue = f"greet-{uuid.uuid4().hex[:8]}"
    async with stack.serving(queue):
        await publish(stack.broker.url, queue, b"{}", message_id="no-route")  # no headers
        await publish(
            stack.broker.url,
            queue,
            b"{}",
            message_id="unknown",
            content_type="application/json",
            headers=route_headers("/nowhere"),
        )
        invalid = await aio_pika_rpc(stack.broker.url, queue, b'{"name": 7}', message_id="bad")
        dead = await dead_letters(stack.broker.url, queue, 3)
    assert invalid.headers["x-funcatron-status"] == 400  # answered, and dead-lettered too
    reasons = {message.message_id: message.headers["x-funcatron-error"] for message in dead}
    assert "no route" in reasons["no-route"]
    assert reasons["unknown"].startswith("404 Not Found")
    assert reasons["bad"].startswith("400 Bad Request") and "/name" in reasons["bad"]


async def test_a_broker_restart_in_the_middle_loses_nothing_and_runs_nothing_twice(
    stack: QueueStack, tmp_path: Path
) -> None:
    """1,000 RPC messages; the broker is stopped and started again (same port,
    same data) once a third are answered. Every message is answered, and no
    Func runs twice for one request id."""
    count = 1000
    data_dir = tmp_path / "restarted"
    broker = start_local_broker(data_dir)
    queue, replies_queue = f"burst-{uuid.uuid4().hex[:8]}", f"replies-{uuid.uuid4().hex[:8]}"
    answered: dict[str, int] = {}
    try:
        connection = await aio_pika.connect_robust(broker.url)
        async with connection:
            channel = await connection.channel()
            await channel.declare_queue(queue, durable=True)
            replies = await channel.declare_queue(replies_queue, durable=True)

            async def on_reply(reply: aio_pika.abc.AbstractIncomingMessage) -> None:
                assert reply.headers["x-funcatron-status"] == 200
                answered[reply.correlation_id] = answered.get(reply.correlation_id, 0) + 1
                await reply.ack()

            await replies.consume(on_reply)
            for i in range(count):
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        json.dumps({"name": f"n{i}"}).encode(),
                        content_type="application/json",
                        message_id=f"burst-{queue}-{i}",
                        correlation_id=str(i),
                        reply_to=replies_queue,
                        headers=route_headers(),
                        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    ),
                    routing_key=queue,
                )
            async with stack.serving(queue, broker=broker, prefetch=32):
                await wait_for(lambda: len(answered) >= count // 3, timeout=120)
                broker.server.stop(timeout=30)  # a clean broker stop, mid-stream
                broker.server.start()
                await asyncio.to_thread(wait_for_broker, broker)
                await wait_for(lambda: len(answered) == count, timeout=180)
    finally:
        broker.stop()
        remove_data(data_dir)
    assert set(answered) == {str(i) for i in range(count)}
    # each message's Func ran once, whatever request id a redelivery had
    runs: dict[str, int] = {}
    for line in stack.calls_seen():
        name = line.split()[1]
        if name.startswith("n") and name[1:].isdigit():
            runs[name] = runs.get(name, 0) + 1
    assert runs == {f"n{i}": 1 for i in range(count)}


async def test_through_the_tron_front_door_as_the_http_front_does(stack: QueueStack) -> None:
    queue = f"greet-{uuid.uuid4().hex[:8]}"
    mark = uuid.uuid4().hex
    async with (
        stack.serving(queue, front_door=True),
        stack.serving(stack.record_queue, front_door=True),
    ):
        reply = await aio_pika_rpc(stack.broker.url, queue, b'{"name": "Door"}')
        invalid = await aio_pika_rpc(stack.broker.url, queue, b"{}", message_id="door-bad")
        dead = await dead_letters(stack.broker.url, queue, 1)
        # no reply_to: accepted by the front door, then runs on
        await publish(
            stack.broker.url, stack.record_queue, mark.encode(), content_type="text/plain"
        )
        await wait_for(lambda: any(line.endswith(mark) for line in stack.calls_seen()))
    assert json.loads(reply.body)["greeting"] == "Hello, Door"
    request_id = reply.headers["x-funcatron-request-id"]
    described = await stack.client.get_workflow_handle(request_id).describe()
    assert described.workflow_type == "RoutedRequest"  # routed before it started
    assert invalid.headers["x-funcatron-status"] == 400
    assert [message.message_id for message in dead] == ["door-bad"]


async def test_temporal_down_holds_the_message_until_it_is_back(
    stack: QueueStack, tmp_path: Path
) -> None:
    """A Temporal server of its own, on a database file, stopped while a
    request/reply message waits and started again: the message is not
    acknowledged while it is down, then answered, its Func run once."""
    ports = [free_port() for _ in range(3)]
    server = dev_server(
        port=ports[0], ui_port=ports[1], http_port=ports[2], runtime_dir=tmp_path,
        namespace=STACK_NAMESPACE, headless=True, db_file=tmp_path / "temporal.db",
    )  # fmt: skip
    server.start()
    try:
        address = f"127.0.0.1:{ports[0]}"
        alive = lambda: server.exit_code() is None  # noqa: E731
        client = await connect_when_ready(address, STACK_NAMESPACE, still_starting=alive)
        queue = f"outage-{uuid.uuid4().hex[:8]}"
        with ThreadPoolExecutor(2) as executor:
            async with tron_worker(client), python_runner(client, stack.folder, executor):
                await ensure_registry(client)
                await register_func(client, stack.folder.registration())
                async with stack.serving(queue, client=client):
                    before = await aio_pika_rpc(stack.broker.url, queue, b'{"name": "up"}')
                    assert before.headers["x-funcatron-status"] == 200
                    server.stop()
                    waiting = asyncio.create_task(
                        aio_pika_rpc(stack.broker.url, queue, b'{"name": "down"}')
                    )
                    await asyncio.sleep(3)
                    assert not waiting.done()  # no answer while Temporal is down
                    server.start()
                    reply = await asyncio.wait_for(waiting, 120)
    finally:
        server.stop()
    assert reply.headers["x-funcatron-status"] == 200
    assert json.loads(reply.body)["greeting"] == "Hello, down"
    assert stack.runs_of(reply.headers["x-funcatron-request-id"]) == 1
