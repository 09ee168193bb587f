"""The broker's own floor: a plain aio-pika consumer that answers each
request/reply message at once (no Temporal, no durability beyond the broker).

    python bench/amqp_echo.py URL QUEUE READY_FILE
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import aio_pika


async def serve(url: str, queue_name: str, ready_file: Path) -> None:
    connection = await aio_pika.connect(url)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=64)
        queue = await channel.declare_queue(queue_name, durable=True)
        body = json.dumps({"echo": "hi"}).encode()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                await channel.default_exchange.publish(
                    aio_pika.Message(
                        body,
                        content_type="application/json",
                        correlation_id=message.correlation_id,
                        headers={"x-funcatron-status": 200},
                    ),
                    routing_key=message.reply_to or "",
                )

        await queue.consume(on_message)
        ready_file.write_text("ready\n")
        await asyncio.Future()  # until stopped


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], sys.argv[2], Path(sys.argv[3])))
