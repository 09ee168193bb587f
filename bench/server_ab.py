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
import asyncio
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from run import Target, cpu_seconds, run_wrk  # noqa: E402

from funcatron_wf.deploy.processes import ManagedProcess, port_accepts, wait_until  # noqa: E402
from funcatron_wf.deploy.temporal_dev import DEV_SERVER_DYNAMIC_CONFIG, dev_server  # noqa: E402
from funcatron_wf.engine.temporal_client import connect_when_ready  # noqa: E402
from funcatron_wf.sources.http_front import NGINX, NginxTemplate  # noqa: E402
from tests.conftest import free_port  # noqa: E402


def floor_stack(
    extra_config: dict[str, str], runtime: Path, processes: list[ManagedProcess]
) -> tuple[Target, int]:
    """A dev server with the platform's settings plus ``extra_config``, the floor
    worker and its front; returns the front's target and the server's pid."""
    ports = {name: free_port() for name in ("grpc", "ui", "http", "floor", "unused_a", "unused_b")}
    temporal = dev_server(
        port=ports["grpc"], ui_port=ports["ui"], http_port=ports["http"], runtime_dir=runtime,
        headless=True,
    )  # fmt: skip
    for key, value in extra_config.items():  # replacing the platform's value, if it sets one
        setting = f"{key}={value}"
        ours = [i for i, arg in enumerate(temporal.argv) if arg.startswith(f"{key}=")]
        if ours:
            temporal.argv[ours[0]] = setting
        else:
            temporal.argv += ["--dynamic-config-value", setting]
    processes.append(temporal.start())
    asyncio.run(
        connect_when_ready(
            f"127.0.0.1:{ports['grpc']}", still_starting=lambda: temporal.exit_code() is None
        )
    )
    wait_until(lambda: port_accepts("127.0.0.1", ports["http"]), process=temporal, what="HTTP API")
    ready = runtime / "floor.ready"
    worker = ManagedProcess(
        "floor worker",
        [sys.executable, str(BENCH / "floor" / "worker.py"), f"127.0.0.1:{ports['grpc']}", str(ready)],
        log_path=runtime / "floor.log",
    )  # fmt: skip
    processes.append(worker.start())
    wait_until(ready.exists, process=worker, what="ready", timeout=60)
    config = runtime / "floor.conf"
    config.write_text(
        NginxTemplate((BENCH / "baselines.conf.template").read_text()).substitute(
            runtime_dir=runtime,
            bench_dir=BENCH,
            temporal_http=f"127.0.0.1:{ports['http']}",
            floor_port=ports["floor"],
            direct_port=ports["unused_a"],
            front_port=ports["unused_b"],
        )  # fmt: skip
    )
    front = ManagedProcess(
        "floor nginx",
        [NGINX, "-p", str(runtime), "-c", str(config), "-e", str(runtime / "error.log"),
         "-g", "daemon off;"],
        log_path=runtime / "nginx.out",
    )  # fmt: skip
    processes.append(front.start())
    wait_until(lambda: port_accepts("127.0.0.1", ports["floor"]), process=front, what="listening")
    return Target("", "", f"http://127.0.0.1:{ports['floor']}/echo/hi", "floor"), temporal.pid


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
