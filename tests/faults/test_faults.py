"""The fault suite's short form: under steady HTTP, chain and queue load,
each fault once (Runners and the Tron SIGKILLed, the queue source too;
Temporal, RabbitMQ and nginx restarted; nginx reloaded). Nothing accepted is
lost, nothing runs under two request ids, nothing is refused, and the
platform serves normally again within seconds of each fault. The counts are
printed; `make soak` runs the same for ten minutes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.faults.stack import FaultStack
from tests.faults.suite import RECOVERY_LIMIT, each_fault_once, run_suite


@pytest.fixture
async def fault_stack() -> AsyncIterator[FaultStack]:
    stack = FaultStack()
    try:
        await stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.mark.timeout(900)
async def test_nothing_is_lost_or_doubled_under_faults(
    fault_stack: FaultStack, capsys: pytest.CaptureFixture[str]
) -> None:
    report = await run_suite(fault_stack, each_fault_once())
    with capsys.disabled():
        print("\n" + "\n".join(report.lines()))
    assert report.problems(RECOVERY_LIMIT) == []
