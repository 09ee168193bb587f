"""`make soak`: the fault suite's long form. The faults of the short form
over and over, a Runner SIGKILLed between each two, under the same load, for
MINUTES (default 10); prints the counts and exits 1 unless nothing was lost,
doubled or refused and the platform came back after every fault.

    .venv/bin/python -m tests.faults.soak [--minutes 10]
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from tests.faults.stack import FaultStack
from tests.faults.suite import RECOVERY_LIMIT, Report, run_suite, soak_schedule


async def soak(minutes: float) -> Report:
    stack = FaultStack()
    try:
        await stack.start()
        return await run_suite(stack, soak_schedule(minutes * 60))
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="of faults (default 10)")
    report = asyncio.run(soak(parser.parse_args().minutes))
    print("\n".join(report.lines()))
    problems = report.problems(RECOVERY_LIMIT)
    print("\n".join(problems) if problems else "soak: nothing lost, doubled or refused")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
