"""Paired A/B of this checkout against another one (an older commit, say).

    git worktree add /tmp/before COMMIT && python3 -m venv /tmp/before/.venv \\
        && /tmp/before/.venv/bin/pip install -e /tmp/before   # once
    .venv/bin/python bench/code_ab.py /tmp/before [--rounds 12] [--seconds 4] [--connections 1]
    .venv/bin/python bench/code_ab.py . --traced    # tracing on against off, same code

Starts `funcatron-wf dev bench/echo` from each checkout side by side (each
with its own embedded Temporal server, so their Registries never meet),
then loads them in turn with short wrk runs, round after round, alternating
which goes first. The figure is the median over rounds of this checkout's
ratio to the other's in the same round: this VM's speed drifts by 2x or
more within an hour, and a ratio taken within one round cancels that out.
``--traced``: this checkout's stack exports OpenTelemetry traces (OTLP/HTTP
to a sink that accepts and drops them, bench/otlp_sink.py); the other's not.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # for run.py, the benchmark this builds on

from run import Target, run_wrk  # noqa: E402

from funcatron_wf.deploy.processes import ManagedProcess, any_free_port, port_accepts, wait_until  # noqa: E402


def start_dev(
    checkout: Path,
    runtime: Path,
    processes: list[ManagedProcess],
    env: dict[str, str] | None = None,
) -> Target:
    """`funcatron-wf dev bench/echo` from ``checkout``'s own venv and its own
    bench/echo (a newer one may use what the older code cannot serve)."""
    port = any_free_port()
    log = runtime / f"dev-{port}.log"
    dev = ManagedProcess(
        f"dev from {checkout}",
        [str(checkout / ".venv" / "bin" / "funcatron-wf"), "dev", str(checkout / "bench" / "echo"),
         "--port", str(port), "--temporal-port", str(any_free_port()),
         "--temporal-ui-port", str(any_free_port()),
         "--temporal-http-port", str(any_free_port())],
        log_path=log,
        cwd=checkout,  # `python -m funcatron_wf` must not find this checkout's package first
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    dev.stop_signal = 2  # SIGINT, as Ctrl-C
    processes.append(dev.start())
    wait_until(lambda: "ready; Ctrl-C" in log.read_text(), process=dev, what="ready", timeout=120)
    return Target("", str(checkout), f"http://127.0.0.1:{port}/echo/hi", "echo.bench")


def start_sink(runtime: Path, processes: list[ManagedProcess]) -> dict[str, str]:
    """The OTLP sink; the environment that exports traces to it."""
    port = any_free_port()
    sink = ManagedProcess(
        "otlp sink", [sys.executable, str(BENCH / "otlp_sink.py"), str(port)],
        log_path=runtime / "otlp-sink.log",
    )  # fmt: skip
    processes.append(sink.start())
    wait_until(lambda: port_accepts("127.0.0.1", port), process=sink, what="listening")
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (with its own .venv)")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--traced", action="store_true", help="this side exports traces")
    options = parser.parse_args()
    this = BENCH.parent
    runtime = Path(tempfile.mkdtemp(prefix="funcatron-code-ab-"))
    runtime.chmod(0o755)
    processes: list[ManagedProcess] = []
    try:
        traced = start_sink(runtime, processes) if options.traced else None
        targets = {
            "this": start_dev(this, runtime, processes, traced),
            "other": start_dev(options.other.resolve(), runtime, processes),
        }
        for target in targets.values():
            run_wrk(target, 4, 2)  # warm up
        ratios: dict[str, list[float]] = {"p50_ms": [], "p99_ms": [], "rps": []}
        for round_number in range(options.rounds):
            order = ["this", "other"] if round_number % 2 == 0 else ["other", "this"]
            sample = {
                name: run_wrk(targets[name], options.connections, options.seconds) for name in order
            }
            for field, values in ratios.items():
                values.append(getattr(sample["this"], field) / getattr(sample["other"], field))
            print(
                f"  round {round_number + 1:2}  this p50 {sample['this'].p50_ms:6.2f} ms  "
                f"other p50 {sample['other'].p50_ms:6.2f} ms  "
                f"ratio {ratios['p50_ms'][-1]:.3f}",
                flush=True,
            )
        what = " with traces exported" if options.traced else ""
        print(f"\nthis ({this}){what} / other ({options.other}), c={options.connections}, "
              f"median over {options.rounds} paired rounds:")  # fmt: skip
        for field, values in ratios.items():
            print(f"  {field:7} {statistics.median(values):.3f}x")
    finally:
        for process in reversed(processes):
            process.stop()
        shutil.rmtree(runtime, ignore_errors=True)


if __name__ == "__main__":
    main()
