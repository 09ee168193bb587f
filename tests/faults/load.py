"""The fault suite's steady load: HTTP requests, chains and queue messages,
each a call with a token the suite's Func records (tests/faults/func).

The clients are careful ones: an HTTP call that got no answer, or a 502,
503 or 504, is sent again with the same Idempotency-Key; a message the
broker did not confirm is published again with the same message id. A
retry is the same request, so the platform must run it once.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aio_pika
import httpx

from tests.faults.stack import HOST, QUEUE

RETRYABLE = {0, 502, 503, 504}  # 0: no answer at all
# What no error answer may carry outside dev mode: a traceback, an internal address.
LEAKS = re.compile(r"Traceback|\b\d{1,3}(\.\d{1,3}){3}:\d+")
RETRY_PAUSE = 0.5
ATTEMPT_TIMEOUT = 60.0
QUEUE_RATE = 10.0  # messages a second
# The large calls: a body and a reply over the inline limits (the front's is
# lowered for the suite, the Runners' is 256 KiB), both in the blob store.
LARGE_PAD = 270 * 1024
LARGE_PAUSE = 0.5


@dataclass
class Call:
    kind: str  # one of STEPS
    token: str
    sent: float  # time.monotonic() of the first attempt
    statuses: list[int] = field(default_factory=list)  # each attempt's (0: none)
    took: float | None = None  # seconds to the answer (or the broker's confirm)
    request_id: str | None = None
    refused: str | None = None  # a final answer that is no success
    leaked: list[str] = field(default_factory=list)  # error answers naming internals

    @property
    def answered(self) -> bool:
        return self.took is not None


class Load:
    def __init__(
        self, url: str, amqp_url: str, *, http_clients: int = 3, chain_clients: int = 1
    ) -> None:
        self.url = url
        self.amqp_url = amqp_url
        self.calls: list[Call] = []
        self._stop = threading.Event()  # no new calls
        self._give_up = threading.Event()  # no more retries
        self._threads = [
            *(threading.Thread(target=self._http, args=("http", "/record")) for _ in range(http_clients)),  # noqa: E501
            *(threading.Thread(target=self._http, args=("chain", "/pipeline")) for _ in range(chain_clients)),  # noqa: E501
            threading.Thread(target=self._http, args=("large", "/large", LARGE_PAUSE)),
            threading.Thread(target=lambda: asyncio.run(self._publish())),
        ]  # fmt: skip

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, give_up_after: float) -> None:
        """No new calls; the ones under way retry for ``give_up_after`` s more."""
        self._stop.set()
        timer = threading.Timer(give_up_after, self._give_up.set)
        timer.start()
        for thread in self._threads:
            thread.join()
        timer.cancel()

    def _http(self, kind: str, path: str, pause: float = 0.0) -> None:
        with httpx.Client(base_url=self.url, timeout=ATTEMPT_TIMEOUT) as http:
            while not self._stop.wait(pause):
                self.calls.append(self._http_call(http, kind, path))

    def _http_call(self, http: httpx.Client, kind: str, path: str) -> Call:
        call = Call(kind, uuid.uuid4().hex, time.monotonic())
        body: dict[str, str] = {"token": call.token}
        if kind == "large":
            body["pad"] = "x" * LARGE_PAD
        while True:
            try:
                response = http.post(
                    path, json=body, headers={"host": HOST, "idempotency-key": call.token}
                )
                status = response.status_code
            except httpx.HTTPError:
                status = 0
            call.statuses.append(status)
            if status not in (0, 200) and LEAKS.search(response.text):
                call.leaked.append(f"{status} {response.text[:300]}")
            if status == 200:
                call.took = time.monotonic() - call.sent
                call.request_id = response.headers["x-request-id"]
                wrong = wrong_answer(kind, body, response.json(), call.request_id)
                if wrong:
                    call.refused = f"200 with {wrong}"
                return call
            if status not in RETRYABLE:
                call.refused = f"{status} {response.text[:300]}"
                return call
            if self._give_up.wait(RETRY_PAUSE):
                return call

    async def _publish(self) -> None:
        connection = await aio_pika.connect_robust(self.amqp_url)
        async with connection:
            channel = await connection.channel(publisher_confirms=True)
            while not self._stop.is_set():
                call = Call("queue", uuid.uuid4().hex, time.monotonic())
                body = {"token": call.token}
                if len(self.calls) % 5 == 0:  # some over the inline limit, in the blob store
                    body["pad"] = "x" * LARGE_PAD
                message = aio_pika.Message(
                    json.dumps(body).encode(),
                    message_id=call.token,
                    content_type="application/json",
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    headers={
                        "x-funcatron-host": HOST,
                        "x-funcatron-method": "POST",
                        "x-funcatron-path": "/record",
                    },
                )
                while not self._give_up.is_set():
                    try:
                        await channel.default_exchange.publish(
                            message, routing_key=QUEUE, mandatory=True, timeout=10
                        )
                    except Exception:  # noqa: BLE001 - the broker is away: publish it again
                        call.statuses.append(0)
                        await asyncio.sleep(RETRY_PAUSE)
                        continue
                    call.statuses.append(200)
                    call.took = time.monotonic() - call.sent
                    break
                self.calls.append(call)
                await asyncio.sleep(1 / QUEUE_RATE)


def wrong_answer(kind: str, sent: dict[str, str], answer: dict, request_id: str) -> str | None:
    """What is wrong with a 200's body (None: it is the Func's reply to this call)."""
    if answer.get("token") != sent["token"]:
        return f"another call's token: {str(answer)[:200]}"
    if kind != "chain" and answer.get("request_id") != request_id:
        return f"request id {answer.get('request_id')} under x-request-id {request_id}"
    if kind == "large" and answer.get("pad") != sent["pad"]:
        return (
            f"a body of {len(answer.get('pad') or '')} padding characters, not {len(sent['pad'])}"
        )
    return None


# --- what the Func recorded ---------------------------------------------------

STEPS = {
    "http": ("record",),
    "chain": ("first", "second"),
    "large": ("large",),
    "queue": ("record",),
}


def read_ledger(path: Path) -> dict[str, list[tuple[str, str]]]:
    """token -> [(step, request id)], one per call the Func took."""
    runs: dict[str, list[tuple[str, str]]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            runs.setdefault(entry["token"], []).append((entry["step"], entry["request_id"]))
    return runs


def unfinished(calls: list[Call], ledger: dict[str, list[tuple[str, str]]]) -> list[Call]:
    """Accepted calls whose every step the Func has not recorded yet."""
    return [
        call
        for call in calls
        if call.answered
        and not set(STEPS[call.kind]) <= {step for step, _ in ledger.get(call.token, [])}
    ]


@dataclass
class Tally:
    """One kind of call's counts."""

    kind: str
    sent: int = 0
    accepted: int = 0  # answered 200 / confirmed by the broker
    lost: list[str] = field(default_factory=list)  # accepted, not finished; or never answered
    doubled: list[str] = field(default_factory=list)  # run under two request ids
    refused: list[str] = field(default_factory=list)  # a final answer that is no success
    leaked: list[str] = field(default_factory=list)  # error answers naming internals
    retried_by_client: int = 0  # calls sent more than once
    run_again: int = 0  # calls the Func took again under the same request id
    statuses: Counter[int] = field(default_factory=Counter)
    slowest: float = 0.0

    def line(self) -> str:
        seen = ", ".join(
            f"{status or 'none'}: {count}" for status, count in sorted(self.statuses.items())
        )  # noqa: E501
        return (
            f"{self.kind:6} sent {self.sent}, accepted {self.accepted}, lost {len(self.lost)}, "
            f"doubled {len(self.doubled)}, refused {len(self.refused)}, "
            f"leaked {len(self.leaked)}; "
            f"retried by the client {self.retried_by_client}, run again (same request id) "
            f"{self.run_again}; slowest {self.slowest:.1f} s; answers seen {{{seen}}}"
        )


def tally(calls: list[Call], ledger: dict[str, list[tuple[str, str]]]) -> list[Tally]:
    tallies = {kind: Tally(kind) for kind in STEPS}
    not_finished = {call.token for call in unfinished(calls, ledger)}
    for call in calls:
        counts = tallies[call.kind]
        counts.sent += 1
        counts.statuses.update(call.statuses)
        counts.retried_by_client += len(call.statuses) > 1
        runs = ledger.get(call.token, [])
        counts.run_again += len(runs) - len(set(runs))
        if len({request_id for _, request_id in runs}) > 1:
            counts.doubled.append(f"{call.token}: {runs}")
        counts.leaked += [f"{call.token}: {answer}" for answer in call.leaked]
        if call.refused:
            counts.refused.append(f"{call.token}: {call.refused}")
        elif not call.answered or call.token in not_finished:
            counts.lost.append(f"{call.token}: answers {call.statuses}, ran {runs}")
        else:
            counts.accepted += 1
            counts.slowest = max(counts.slowest, call.took or 0.0)
    return list(tallies.values())
