"""An AMQP request/reply load, as wrk is for HTTP: CONCURRENCY clients, each
publishing a request with reply_to and waiting for its reply before the next,
for SECONDS. Prints one JSON line: p50 and p99 round trip (ms) and replies/s.

    python bench/amqp_load.py URL QUEUE CONCURRENCY SECONDS [HEADERS_JSON]

Each message has a fresh message_id, so each is a new request.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
import uuid

import aio_pika


async def load(url: str, queue: str, concurrency: int, seconds: float, headers: dict) -> dict:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel(publisher_confirms=False)
        replies = await channel.declare_queue("", exclusive=True)
        waiting: dict[str, asyncio.Future[None]] = {}
        statuses: dict[str, int] = {}

        async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            statuses[message.headers.get("x-funcatron-status", 200)] = (
                statuses.get(message.headers.get("x-funcatron-status", 200), 0) + 1
            )
            future = waiting.pop(message.correlation_id or "", None)
            if future is not None and not future.done():
                future.set_result(None)

        await replies.consume(on_reply, no_ack=True)
        latencies: list[float] = []
        deadline = time.monotonic() + seconds

        async def client() -> None:
            while time.monotonic() < deadline:
                correlation_id = uuid.uuid4().hex
                done = asyncio.get_running_loop().create_future()
                waiting[correlation_id] = done
                sent = time.monotonic()
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        b"",
                        reply_to=replies.name,
                        correlation_id=correlation_id,
                        message_id=uuid.uuid4().hex,
                        headers=headers,
                    ),
                    routing_key=queue,
                )
                await asyncio.wait_for(done, 60)
                latencies.append((time.monotonic() - sent) * 1000)

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    latencies.sort()
    return {
        "p50_ms": statistics.median(latencies),
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "rps": len(latencies) / elapsed,
        "statuses": {str(k): v for k, v in statuses.items()},
    }


if __name__ == "__main__":
    url, queue, concurrency, seconds = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        float(sys.argv[4]),
    )
    headers = json.loads(sys.argv[5]) if len(sys.argv) > 5 else {}
    print(json.dumps(asyncio.run(load(url, queue, concurrency, seconds, headers))))
