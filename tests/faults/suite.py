"""The fault suite: the load running while the faults come in turn, then
the counts. The short form (test_faults.py, in `make test`) runs each fault
once; the soak (`make soak`, soak.py) runs them over and over for minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from funcatron_wf.deploy.stack import Say
from tests.faults.load import Call, Load, Tally, read_ledger, tally, unfinished
from tests.faults.stack import RUNNERS, FaultStack

# Serving normally again: this many calls in a row answered at the first
# attempt within FAST seconds.
IN_A_ROW = 3
FAST = 2.0
# How long the calls under way at the end may still retry, and how long
# accepted messages may take to be run, before they count as lost.
SETTLE = 90.0
# The longest a fault may leave the platform serving abnormally after it is
# over: a restarted Tron takes a few seconds to start and poll.
RECOVERY_LIMIT = 20.0
FULL_FOR = 6.0  # seconds the blob store's disk stays full


@dataclass
class Fault:
    name: str
    inject: Callable[[FaultStack], Awaitable[None]]
    then: float  # seconds of load after it, before the next fault
    measured_by: str = "http"  # the kind of call whose answers show it recovered


def kill(name: str, then: float) -> Fault:
    async def inject(stack: FaultStack) -> None:
        stack.kill(name)

    return Fault(f"SIGKILL {name}", inject, then)


async def _reload_nginx(stack: FaultStack) -> None:
    stack.reload_nginx()


async def _full_blob_disk(stack: FaultStack) -> None:
    """Full for a while, then room again (as an operator would make)."""
    stack.fill_blob_disk()
    await asyncio.sleep(FULL_FOR)
    stack.free_blob_disk()


def each_fault_once() -> list[Fault]:
    """The short form: every fault the suite knows, once."""
    return [
        kill("runner-1", 4),
        kill("runner-2", 8),
        kill("tron", 10),
        kill("source-faults", 8),
        Fault("restart temporal", FaultStack.restart_temporal, 15),
        Fault("restart rabbitmq", FaultStack.restart_rabbitmq, 10),
        Fault("reload nginx", _reload_nginx, 4),
        Fault("restart nginx", FaultStack.restart_nginx, 6),
        Fault("full blob disk", _full_blob_disk, 10, measured_by="large"),
    ]


def soak_schedule(seconds: float) -> list[Fault]:
    """Rounds of every fault, a Runner killed every few seconds between the
    others, for about ``seconds`` of faults."""
    rounds: list[Fault] = []
    while sum(fault.then for fault in rounds) < seconds:
        for fault in each_fault_once():
            rounds.append(fault)
            rounds.append(kill(f"runner-{len(rounds) % RUNNERS + 1}", 4))
    return rounds


@dataclass
class FaultResult:
    name: str
    at: float  # time.monotonic() as it began
    measured_by: str
    ended: float = 0.0  # time.monotonic() once the fault was over (a restarted service up)
    recovered_in: float | None = None  # seconds after it ended, None: not within its window


@dataclass
class Report:
    tallies: list[Tally]
    faults: list[FaultResult] = field(default_factory=list)
    seconds: float = 0.0

    def lines(self) -> list[str]:
        lines = [f"fault suite: {len(self.faults)} faults in {self.seconds:.0f} s of load"]
        lines += [
            f"  {fault.name:21} over after {fault.ended - fault.at:4.1f} s, "
            + (
                f"{fault.measured_by} calls normal {fault.recovered_in:.1f} s later"
                if fault.recovered_in is not None
                else f"{fault.measured_by} calls NOT normal again before the next fault"
            )
            for fault in self.faults
        ]
        lines += [f"  {counts.line()}" for counts in self.tallies]
        return lines

    def problems(self, recovery_limit: float) -> list[str]:
        """What broke the suite's promises, one line each (none: it held)."""
        problems = []
        for counts in self.tallies:
            for what, calls in (
                ("lost", counts.lost),
                ("doubled", counts.doubled),
                ("refused", counts.refused),
                ("leaked", counts.leaked),
            ):
                problems += [f"{counts.kind} {what}: {call}" for call in calls[:5]]
            if counts.sent < 20:
                problems.append(f"{counts.kind}: too little load to count ({counts.sent} calls)")
        problems += [
            f"{fault.name}: {fault.measured_by} calls not normal within {recovery_limit:g} s"
            for fault in self.faults
            if fault.recovered_in is None or fault.recovered_in > recovery_limit
        ]
        return problems


def recovered_in(calls: list[Call], kind: str, since: float, until: float) -> float | None:
    """Seconds from ``since`` to the first of IN_A_ROW calls of ``kind``, sent
    before ``until``, answered at the first attempt within FAST seconds."""
    sent = sorted(
        (call for call in calls if call.kind == kind and since <= call.sent < until),
        key=lambda call: call.sent,
    )
    for start in range(len(sent) - IN_A_ROW + 1):
        row = sent[start : start + IN_A_ROW]
        if all(len(call.statuses) == 1 and (call.took or FAST) < FAST for call in row):
            return row[0].sent - since
    return None


async def run_suite(stack: FaultStack, faults: list[Fault], say: Say = print) -> Report:
    """Start the load, inject each fault in turn, stop, settle, count."""
    load = Load(stack.url, stack.amqp_url)
    tending = asyncio.create_task(stack.tend())
    results: list[FaultResult] = []
    began = time.monotonic()
    try:
        load.start()
        await asyncio.sleep(5)  # the load running before the first fault
        for fault in faults:
            results.append(result := FaultResult(fault.name, time.monotonic(), fault.measured_by))
            await fault.inject(stack)
            result.ended = time.monotonic()
            await asyncio.sleep(fault.then)
        say("faults done; the calls under way finish")
        await asyncio.to_thread(load.stop, SETTLE)
        deadline = time.monotonic() + SETTLE
        while unfinished(load.calls, read_ledger(stack.ledger)) and time.monotonic() < deadline:
            await asyncio.sleep(1)
    finally:
        tending.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tending
    ends = [result.at for result in results[1:]] + [time.monotonic()]
    for result, end in zip(results, ends, strict=True):
        result.recovered_in = recovered_in(load.calls, result.measured_by, result.ended, end)
    return Report(tally(load.calls, read_ledger(stack.ledger)), results, time.monotonic() - began)
