"""Paired A/B of Temporal server settings, on the floor.

    .venv/bin/python bench/server_ab.py 'history.someKey=VALUE' ['KEY=VALUE' ...]
        [--variant 'KEY=VALUE,KEY=VALUE' ...] [--rounds 20] [--seconds 3] [--connections 1]

Starts side by side one floor stack (an embedded dev server with the
platform's own settings, the floor worker and its nginx front, as in
`bench/run.py`) per variant, plus one with the platform's settings alone as
the baseline, then loads them in turn with short wrk runs, round after
round. Each variant's figure is the median over rounds of its ratio to the
baseline in the same round: this VM's speed drifts by 2x or more within an
hour, and a ratio taken within one round cancels that out. Values are JSON,
as for `temporal server start-dev --dynamic-config-value`.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # for run.py, the benchmark this builds on

from run import Target, cpu_seconds, run_wrk, stack_ports, start_floor, start_temporal  # noqa: E402

from funcatron_wf.deploy.processes import ManagedProcess  # noqa: E402
from funcatron_wf.deploy.temporal_dev import DEV_SERVER_DYNAMIC_CONFIG  # noqa: E402


def floor_stack(
    extra_config: dict[str, str], runtime: Path, processes: list[ManagedProcess]
) -> tuple[Target, int]:
    """A headless server with the platform's settings plus ``extra_config``, the
    floor's worker and front; returns the front's target and the server's pid."""
    ports = stack_ports()
    temporal = start_temporal(runtime, ports, processes, headless=True, extra_config=extra_config)
    start_floor(runtime, ports, processes)
    return Target("", "", f"http://127.0.0.1:{ports['b']}/echo/hi", "floor"), temporal.pid


def parse_variant(text: str) -> dict[str, str]:
    pairs = [item.partition("=") for item in text.split(",") if item.strip()]
    if not pairs or any(not key or not sep for key, sep, _ in pairs):
        raise SystemExit(f"a variant is KEY=VALUE[,KEY=VALUE...]; got {text!r}")
    return {key.strip(): value.strip() for key, _, value in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("settings", nargs="*", help="KEY=VALUE: one variant with these settings")
    parser.add_argument("--variant", action="append", default=[], help="KEY=VALUE,KEY=VALUE")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=3, help="length of each wrk run")
    parser.add_argument("--connections", type=int, default=1)
    options = parser.parse_args()
    variants = [parse_variant(v) for v in options.variant]
    if options.settings:
        variants.insert(0, parse_variant(",".join(options.settings)))
    if not variants:
        parser.error("give at least one KEY=VALUE")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (make bench does)")

    print(f"baseline: the platform's settings {DEV_SERVER_DYNAMIC_CONFIG}")
    processes: list[ManagedProcess] = []
    runtimes = []
    try:
        stacks = []
        for extra in [{}, *variants]:
            runtimes.append(Path(tempfile.mkdtemp(prefix="funcatron-server-ab-")))
            runtimes[-1].chmod(0o755)
            stacks.append(floor_stack(extra, runtimes[-1], processes))
        latency = options.connections == 1
        figures: list[list[float]] = [[] for _ in stacks]
        cpu: list[list[float]] = [[] for _ in stacks]
        for round_number in range(1, options.rounds + 1):
            for index, (target, server_pid) in enumerate(stacks):
                before = cpu_seconds(server_pid)
                sample = run_wrk(target, options.connections, options.seconds)
                figures[index].append(sample.p50_ms if latency else sample.rps)
                handled = max(1.0, sample.rps * options.seconds)
                cpu[index].append((cpu_seconds(server_pid) - before) * 1000 / handled)
            print(f"  round {round_number}: " + "  ".join(f"{f[-1]:.1f}" for f in figures))
        what = "p50 (ms)" if latency else "requests/s"
        print(
            f"\nc={options.connections}, {options.rounds} rounds: {what}, paired ratio, server CPU ms/request"
        )
        for index, extra in enumerate([{}, *variants]):
            ratio = statistics.median(
                x / y for x, y in zip(figures[index], figures[0], strict=True)
            )
            print(
                f"  {statistics.median(figures[index]):8.2f}  {ratio:5.3f}x  "
                f"{statistics.median(cpu[index]):6.1f}  {extra or 'baseline'}"
            )
    finally:
        for process in reversed(processes):
            process.stop()
        for runtime in runtimes:
            shutil.rmtree(runtime, ignore_errors=True)


if __name__ == "__main__":
    main()
