"""Autoscaling a burst on the local substrate: `funcatron-wf up`, one Func
whose calls take 200 ms (4 at once per Runner, 1 to 8 Runners, a 0.5 s
target backlog age, a 10 s scale-down window), N requests at once, first
from one Runner, then from zero (`scale --min 0`, once it scaled to zero).
The baseline, in the same go: the same burst with the pool pinned at 8
Runners before it. Prints, for each: seconds until the pool's largest size
ran, seconds until the last answer, p50/p99 latency (and each against the
baseline), requests lost (must be 0); draws backlog, Runners and latency
over time into docs/autoscale.png.

    .venv/bin/python bench/autoscale.py [--requests 200] [--plot docs/autoscale.png]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from funcatron_wf.deploy.backlog import activity_backlog  # noqa: E402
from funcatron_wf.deploy.processes import any_free_port  # noqa: E402
from funcatron_wf.engine.registry_client import read_registry_state  # noqa: E402
from funcatron_wf.engine.temporal_client import connect  # noqa: E402

FUNCATRON = str(REPO / ".venv" / "bin" / "funcatron-wf")
HOST = "burst.local"
SPEC = f"""openapi: 3.0.3
info: {{title: burst, version: '1'}}
servers: [{{url: 'http://{HOST}/'}}]
x-funcatron-scale: {{min: 1, max: 8, target_backlog_age: 0.5, concurrency: 4, scale_down_after: 10}}
paths:
  /work:
    get:
      operationId: burst_ops.work
      responses: {{'200': {{description: after 200 ms}}}}
"""
CODE = "import time\n\n\ndef work():\n    time.sleep(0.2)\n    return {}\n"


@dataclass
class Run:
    name: str
    started: float = 0.0
    answers: list[tuple[float, float, int]] = field(default_factory=list)  # sent, took, status
    samples: list[tuple[float, int, int, int]] = field(
        default_factory=list
    )  # t, backlog, size, running


def cli(state: Path, *args: str) -> str:
    done = subprocess.run(
        [FUNCATRON, *args, "--state-dir", str(state)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{args[0]} failed: {done.stderr}")
    return done.stdout


def sample_forever(temporal: str, run_of: list[Run], stop: threading.Event) -> None:
    """Backlog, decided size and running Runners, four times a second."""

    async def loop() -> None:
        client = await connect(temporal)
        while not stop.is_set():
            state = await read_registry_state(client)
            for deployment in state.deployments:
                for version in deployment.serving():
                    backlog = await activity_backlog(client, version.task_queue)
                    run = run_of[0]
                    run.samples.append((time.monotonic() - run.started, backlog.count,
                                        deployment.pool_size(version), runners(version.sha)))  # fmt: skip
            await asyncio.sleep(0.25)

    asyncio.run(loop())


def runners(sha: str) -> int:
    """The version's Runner processes on this machine (the local substrate's
    pool; Temporal's poller list keeps a Runner for a minute after it stops)."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"runner" in args and sha.encode() in args:
            count += 1
    return count


def burst(port: int, run: Run, requests: int) -> None:
    def one(_: int) -> tuple[float, float, int]:
        sent = time.monotonic()
        try:
            status = httpx.get(f"http://127.0.0.1:{port}/work", headers={"host": HOST}, timeout=120).status_code  # fmt: skip
        except httpx.HTTPError:
            status = 0
        return sent - run.started, time.monotonic() - sent, status

    run.started = time.monotonic()
    with ThreadPoolExecutor(requests) as pool:
        run.answers = list(pool.map(one, range(requests)))


def report(run: Run, baseline: Run) -> None:
    def p50_p99(of: Run) -> tuple[float, float]:
        latencies = sorted(took for _, took, _ in of.answers)
        return statistics.median(latencies), latencies[int(0.99 * (len(latencies) - 1))]

    def last(of: Run) -> float:
        return max(sent + took for sent, took, _ in of.answers)

    lost = sum(1 for _, _, status in run.answers if status != 200)
    during = [s for s in run.samples if s[0] >= 0]
    largest = max(size for _, _, size, _ in during)
    serving = next((t for t, _, _, running in during if running >= largest), float("nan"))
    p50, p99 = p50_p99(run)
    base50, base99 = p50_p99(baseline)
    print(f"{run.name}: {len(run.answers)} requests; {largest} Runners running after "
          f"{serving:.1f} s; last answer after {last(run):.1f} s ({last(run) / last(baseline):.2f}x); "
          f"p50 {p50:.2f} s ({p50 / base50:.2f}x), p99 {p99:.2f} s ({p99 / base99:.2f}x); "
          f"lost {lost}")  # fmt: skip


def plot(runs: list[Run], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, rows = plt.subplots(
        3, len(runs), figsize=(6 * len(runs), 8), sharex="col", squeeze=False
    )
    for column, run in enumerate(runs):
        t = [s[0] for s in run.samples]
        rows[0][column].plot(t, [s[1] for s in run.samples])
        rows[0][column].set_title(run.name)
        rows[0][column].set_ylabel("backlog (calls)")
        rows[1][column].step(t, [s[2] for s in run.samples], where="post", label="decided")
        rows[1][column].step(t, [s[3] for s in run.samples], where="post", label="running")
        rows[1][column].set_ylabel("Runners")
        rows[1][column].legend()
        rows[2][column].scatter(
            [a[0] + a[1] for a in run.answers], [a[1] for a in run.answers], s=4
        )
        rows[2][column].set_ylabel("latency (s)")
        rows[2][column].set_xlabel("seconds since the burst")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    print(f"plot: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "autoscale.png")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-autoscale-"))
    state = root / "state"
    folder = root / "burst"
    folder.mkdir()
    (folder / "openapi.yaml").write_text(SPEC)
    (folder / "burst_ops.py").write_text(CODE)
    port = any_free_port()
    ports = ["--port", str(port)] + [
        arg for flag in ("--temporal-port", "--temporal-ui-port", "--temporal-http-port")
        for arg in (flag, str(any_free_port()))
    ]  # fmt: skip
    cli(state, "up", *ports)
    stop = threading.Event()
    try:
        cli(state, "deploy", str(folder))
        temporal = json.loads((state / "platform.json").read_text())["temporal"]
        # the baseline: the pool pinned at its largest size before the burst
        cli(state, "scale", "burst", "8")
        current = [Run("pinned at 8 (baseline)", started=time.monotonic())]
        sampler = threading.Thread(
            target=sample_forever, args=(temporal, current, stop), daemon=True
        )
        sampler.start()
        runs = [current[0]]
        wait_for_runners(state, 8)
        burst(port, current[0], options.requests)
        time.sleep(5)
        cli(state, "scale", "burst", "1")
        wait_for_runners(state, 1)
        cli(state, "scale", "burst", "--auto")
        current[0] = Run("from one Runner", started=time.monotonic())
        runs.append(current[0])
        burst(port, current[0], options.requests)
        time.sleep(20)  # watch it drain and scale down
        cli(state, "scale", "burst", "--min", "0")
        deadline = time.monotonic() + 180
        while last_size(state) != 0 or runners(last_sha(state)) != 0:
            if time.monotonic() > deadline:
                raise SystemExit("the pool did not scale to zero within 180 s")
            time.sleep(2)
        current[0] = Run("from zero", started=time.monotonic())
        runs.append(current[0])
        burst(port, current[0], options.requests)
        time.sleep(20)
    finally:
        stop.set()
        cli(state, "down")
    for run in runs:
        run.samples = [s for s in run.samples if s[0] >= -1]
    for run in runs[1:]:
        report(run, runs[0])
    plot(runs[1:], options.plot)


def last_size(state: Path) -> int:
    """The pool's decided size, as `ls` says."""
    listed = json.loads(cli(state, "ls", "--json"))
    (deployment,) = listed["deployments"]
    (version,) = [v for v in deployment["versions"] if v["sha"] == deployment["live"]]
    return int(version["pool_size"])


def last_sha(state: Path) -> str:
    listed = json.loads(cli(state, "ls", "--json"))
    return str(listed["deployments"][0]["live"])


def wait_for_runners(state: Path, count: int) -> None:
    deadline = time.monotonic() + 120
    while runners(last_sha(state)) != count:
        if time.monotonic() > deadline:
            raise SystemExit(f"not {count} Runners within 120 s")
        time.sleep(0.5)


if __name__ == "__main__":
    main()
