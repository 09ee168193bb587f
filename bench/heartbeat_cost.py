"""What a Func's heartbeat timeout costs: the Temporal server's CPU while
calls that outlast the heartbeat interval run, for several timeouts.

    .venv/bin/python bench/heartbeat_cost.py [--calls 16] [--seconds 10] [--timeouts 1,5,60]

Starts a headless dev server, a Tron and a Runner in this process, and for
each heartbeat timeout registers a Func whose call sleeps SECONDS, runs
CALLS of them at once, and reads the server's CPU over the run. The Runner
heartbeats every fifth of the timeout, so a timeout over 5 x SECONDS sends
no heartbeat at all: the baseline. Prints server CPU per run and per
heartbeat call (the SDK sends at most one per 0.8 x the timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # for run.py
sys.path.insert(0, str(BENCH.parent))  # for tests/conftest.py's in-process Runner

from run import cpu_seconds, stack_ports, start_temporal  # noqa: E402

from funcatron_wf.deploy.processes import ManagedProcess  # noqa: E402
from funcatron_wf.engine.contracts import FuncSettings, RequestEnvelope  # noqa: E402
from funcatron_wf.engine.registry_client import ensure_registry, register_func  # noqa: E402
from funcatron_wf.engine.starting import start_request  # noqa: E402
from funcatron_wf.engine.temporal_client import connect  # noqa: E402
from funcatron_wf.workers.func_folder import FuncFolder  # noqa: E402
from funcatron_wf.workers.tron import tron_worker  # noqa: E402
from tests.conftest import python_runner, write_func_folder  # noqa: E402

SPEC = """openapi: 3.0.3
info: {title: heartbeat cost, version: '1'}
servers: [{url: 'http://heartbeat.bench/'}]
paths:
  /sleep:
    get:
      operationId: heartbeat_ops.nap
      x-funcatron-timeout: 120
      parameters: [{name: seconds, in: query, schema: {type: number}}]
      responses: {'200': {description: ok}}
"""
CODE = (
    "import asyncio\n\nasync def nap(seconds):\n    await asyncio.sleep(seconds)\n    return {}\n"
)


def heartbeat_calls(timeout: float, seconds: float) -> int:
    """Heartbeat RPCs one call of ``seconds`` makes: the Runner heartbeats every
    fifth of the timeout; the SDK sends the first at once and then at most one
    per 0.8 x the timeout (its throttle)."""
    every = timeout / 5
    if every >= seconds:
        return 0
    return 1 + int((seconds - every) // (0.8 * timeout))


async def measure(
    options: argparse.Namespace, runtime: Path, temporal: ManagedProcess, grpc_port: int
) -> None:
    client = await connect(f"127.0.0.1:{grpc_port}")
    folder = FuncFolder.load(
        write_func_folder(runtime / "heartbeat", SPEC, {"heartbeat_ops.py": CODE})
    )
    print(f"{options.calls} calls of {options.seconds:g} s at once, per heartbeat timeout:")
    baseline: float | None = None
    with ThreadPoolExecutor(4) as executor:
        async with tron_worker(client), python_runner(client, folder, executor):
            await ensure_registry(client)
            for timeout in options.timeouts:
                await register_func(
                    client, folder.registration(FuncSettings(heartbeat_timeout=timeout))
                )
                await asyncio.sleep(1.5)  # the Trons' route table refreshes every second
                before = cpu_seconds(temporal.pid)
                requests = [
                    RequestEnvelope(
                        request_id=uuid.uuid4().hex,
                        source="bench",
                        host="heartbeat.bench",
                        method="GET",
                        path="/sleep",
                        query={"seconds": [str(options.seconds)]},
                    )  # fmt: skip
                    for _ in range(options.calls)
                ]
                started = [await start_request(client, request) for request in requests]
                await asyncio.gather(*(each.response() for each in started))
                spent = cpu_seconds(temporal.pid) - before
                heartbeats = options.calls * heartbeat_calls(timeout, options.seconds)
                line = f"  timeout {timeout:5g} s: {heartbeats:4} heartbeat calls, "
                line += f"server CPU {spent * 1000:7.0f} ms"
                if heartbeats == 0:
                    baseline = spent
                elif baseline is not None:
                    line += f" ({(spent - baseline) * 1000 / heartbeats:.2f} ms a heartbeat)"
                print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--timeouts",
        type=lambda text: [float(t) for t in text.split(",")],
        default=[60.0, 5.0, 1.0],
        help="comma-separated; put one over 5 x --seconds first: the no-heartbeat baseline",
    )
    options = parser.parse_args()
    runtime = Path(tempfile.mkdtemp(prefix="funcatron-heartbeat-"))
    processes: list[ManagedProcess] = []
    try:
        ports = stack_ports()
        temporal = start_temporal(runtime, ports, processes, headless=True)
        asyncio.run(measure(options, runtime, temporal, ports["grpc"]))
    finally:
        for process in reversed(processes):
            process.stop()
        shutil.rmtree(runtime, ignore_errors=True)


if __name__ == "__main__":
    main()
