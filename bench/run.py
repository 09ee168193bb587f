"""Benchmark: funcatron-wf against the Temporal floor and a direct baseline.

    make bench        (or: .venv/bin/python bench/run.py [--seconds N] [--rounds N])

Starts one embedded Temporal dev server (with the platform's dynamic config)
and, on it:
  a. funcatron-wf end to end: `funcatron-wf dev bench/echo` (nginx + Lua ->
     the Tron's front door -> a Runner's door, the fast path: the Runner
     starts the workflow and runs the Func in its first task), a trivial
     echo Func;
  u. the same with the fast path off (FUNCATRON_FAST_PATH=false, its own
     namespace on the same server): the front door starts the workflow on
     the Trons' queue, the Func runs as an activity on the Runner's queue,
     nginx long-polls the close event;
  b. the Temporal floor: a minimal workflow running one activity on another
     task queue, started and awaited through Temporal's HTTP API by a
     minimal nginx + Lua front (bench/floor/);
  c. the direct baseline: nginx proxying to a plain Python HTTP handler;
  q. funcatron-wf through its queue source: AMQP request/reply (RabbitMQ ->
     the queue source -> Temporal -> Tron -> Runner -> reply), the same Func;
  d. the broker's own floor: AMQP request/reply to a plain aio-pika consumer;
  h. funcatron-wf serving a chain of three echo steps (bench/echo/echo3.chain.yaml);
  j. funcatron-wf end to end with the same echo Func in JavaScript
     (bench/echo-js, served by the Node language host);
  v. the same in Java (bench/echo-java, built here, served by the JVM host,
     warm). The JVM host's start time is timed first.
Then drives each at concurrency 1 and 32 (wrk for HTTP, bench/amqp_load.py
for AMQP), interleaved and
repeated over rounds (the machine is shared and noisy), and prints the
median p50/p99 latency and requests/s; the ratios a/b and a/c as the median
of each round's own ratio (a and its baseline ran back to back, so the
machine's drift, up to 2x within an hour here, cancels); and the RSS of the
platform's processes at rest and under load. Each round also times, from one
client, a chain of three steps against the same Func called three times one
by one over HTTP (bench/chain_steps.py): a chain step's cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from chain_steps import chain_against_calls

from funcatron_wf.deploy.processes import ManagedProcess, any_free_port, port_accepts, wait_until
from funcatron_wf.deploy.temporal_dev import dev_server
from funcatron_wf.engine.temporal_client import connect_when_ready
from funcatron_wf.sources.http_front import NGINX, NginxTemplate

BENCH = Path(__file__).resolve().parent
CONCURRENCIES = (1, 32)
SETTLE_SECONDS = 3.0  # after a c=32 run: its last requests take ~1-2 s to finish
USUAL_NAMESPACE = "usual"  # the platform with the fast path off
ECHO_QUEUE = "bench.echo"  # the platform's queue source consumes it
DIRECT_QUEUE = "bench.direct"  # a plain aio-pika consumer answers it
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class Target:
    key: str
    label: str
    url: str  # HTTP: the URL wrk asks; AMQP: the broker
    host: str = ""  # HTTP: the Host header
    queue: str = ""  # AMQP: the queue requests go to
    headers: dict[str, str] | None = None  # AMQP: the message headers


def run_sample(target: Target, connections: int, seconds: int) -> Sample:
    if not target.queue:
        return run_wrk(target, connections, seconds)
    done = subprocess.run(
        [sys.executable, str(BENCH / "amqp_load.py"), target.url, target.queue,
         str(connections), str(seconds), json.dumps(target.headers or {})],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    figures = json.loads(done.stdout)
    if set(figures["statuses"]) != {"200"}:
        raise SystemExit(f"{target.label}: replies other than 200: {figures['statuses']}")
    return Sample(figures["p50_ms"], figures["p99_ms"], figures["rps"])


@dataclass
class Sample:
    p50_ms: float
    p99_ms: float
    rps: float


def run_wrk(target: Target, connections: int, seconds: int) -> Sample:
    done = subprocess.run(
        [
            "wrk",
            "--latency",
            "-t",
            "1" if connections == 1 else "2",
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "-H",
            f"Host: {target.host}",
            target.url,
        ],  # fmt: skip
        capture_output=True,
        text=True,
        check=True,
    )
    out = done.stdout
    # wrk counts requests still in flight when the run ends as "timeout";
    # anything else is a real failure.
    socket_errors = re.search(r"connect (\d+), read (\d+), write (\d+)", out)
    if "Non-2xx" in out or (socket_errors and any(int(n) for n in socket_errors.groups())):
        raise SystemExit(f"{target.label}: errors under load:\n{out}")

    def percentile(name: str) -> float:
        value, unit = re.search(rf"^\s+{name}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * UNITS[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return Sample(percentile("50"), percentile("99"), rps)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (nginx workers)."""
    total = 0
    for process in [pid, *_children(pid)]:
        try:
            fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    total = 0
    for child in [pid, *_children(pid)]:
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except FileNotFoundError:
            continue
        match = re.search(r"VmRSS:\s+(\d+) kB", status)
        total += int(match.group(1)) if match else 0
    return total / 1024


def _children(pid: int) -> list[int]:
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [int(c) for c in children]


class RssSampler(threading.Thread):
    """The largest RSS seen per process while the load runs."""

    def __init__(self, pids: dict[str, int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = dict.fromkeys(pids, 0.0)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            for name, pid in self.pids.items():
                self.peak[name] = max(self.peak[name], rss_mb(pid))


def start_temporal(
    runtime: Path,
    ports: dict[str, int],
    processes: list[ManagedProcess],
    *,
    headless: bool = False,
    extra_config: dict[str, str] | None = None,
    also_namespaces: tuple[str, ...] = (),
) -> ManagedProcess:
    """The embedded dev server with the platform's settings; ``extra_config``
    adds dynamic-config values or replaces the platform's."""
    temporal = dev_server(
        port=ports["grpc"], ui_port=ports["ui"], http_port=ports["http"], runtime_dir=runtime,
        headless=headless, dynamic_config=extra_config, also_namespaces=also_namespaces,
    )  # fmt: skip
    processes.append(temporal.start())
    asyncio.run(
        connect_when_ready(
            f"127.0.0.1:{ports['grpc']}", still_starting=lambda: temporal.exit_code() is None
        )
    )
    wait_until(lambda: port_accepts("127.0.0.1", ports["http"]), process=temporal, what="HTTP API")
    return temporal


def start_floor(
    runtime: Path, ports: dict[str, int], processes: list[ManagedProcess]
) -> tuple[ManagedProcess, ManagedProcess]:
    """The floor's worker, and the nginx that serves the floor's front on port
    ``b`` and the direct baseline (to the handler on port ``direct``) on ``c``."""
    ready = runtime / "floor.ready"
    floor = ManagedProcess(
        "floor worker",
        [sys.executable, str(BENCH / "floor" / "worker.py"), f"127.0.0.1:{ports['grpc']}",
         str(ready)],
        log_path=runtime / "floor.log",
    )  # fmt: skip
    processes.append(floor.start())
    wait_until(ready.exists, process=floor, what="ready", timeout=60)
    config = runtime / "baselines.conf"
    config.write_text(
        NginxTemplate((BENCH / "baselines.conf.template").read_text()).substitute(
            runtime_dir=runtime,
            bench_dir=BENCH,
            temporal_http=f"127.0.0.1:{ports['http']}",
            direct_port=ports["direct"],
            floor_port=ports["b"],
            front_port=ports["c"],
        )  # fmt: skip
    )
    baselines = ManagedProcess(
        "baselines nginx",
        [NGINX, "-p", str(runtime), "-c", str(config), "-e", str(runtime / "baselines-error.log"),
         "-g", "daemon off;"],
        log_path=runtime / "baselines.out",
    )  # fmt: skip
    processes.append(baselines.start())
    wait_until(lambda: port_accepts("127.0.0.1", ports["b"]), process=baselines, what="listening")
    return floor, baselines


def stack_ports() -> dict[str, int]:
    return {name: any_free_port() for name in ("grpc", "ui", "http", "a", "u", "b", "c", "direct")}


def dev_pids(log: Path) -> dict[str, int]:
    """The processes `dev` started, by name, from its log."""
    return {
        name: int(pid)
        for name, pid in re.findall(r"started ([\w.-]+) \(pid (\d+)\)", log.read_text())
    }


def build_java_echo(runtime: Path) -> Path:
    """bench/echo-java with its JAR built (javac against the host's API)."""
    from funcatron_wf.workers.jvm_host import host_jar

    folder = shutil.copytree(BENCH / "echo-java", runtime / "echo-java")
    classes = runtime / "echo-java-classes"
    sources = [str(p) for p in (folder / "java").rglob("*.java")]
    subprocess.run(["javac", "--release", "17", "-cp", str(host_jar()), "-d", str(classes),
                    *sources], check=True)  # fmt: skip
    subprocess.run(["jar", "--create", "--file", str(folder / "echo.jar"), "-C", str(classes), "."],
                   check=True)  # fmt: skip
    return folder


def jvm_start_seconds(folder: Path, samples: int = 3) -> float:
    """The JVM host's start: loading the Func and saying ready (median)."""
    from funcatron_wf.engine.contracts import Route
    from funcatron_wf.workers.jvm_host import check_jvm_folder

    routes = [Route("", "/", "GET", "/echo/{word}", "echo.Echo.echo")]
    taken = []
    for _ in range(samples):
        started = time.monotonic()
        check_jvm_folder(folder, routes)
        taken.append(time.monotonic() - started)
    return statistics.median(taken)


def start_stack(
    runtime: Path, processes: list[ManagedProcess]
) -> tuple[dict[str, Target], dict[str, int]]:
    """Everything, on one server; started processes go to ``processes`` at once,
    so the caller stops them even if a later one fails to start."""
    ports = stack_ports()
    temporal = start_temporal(runtime, ports, processes, also_namespaces=(USUAL_NAMESPACE,))
    direct = ManagedProcess(
        "direct handler", [sys.executable, str(BENCH / "direct.py"), str(ports["direct"])],
        log_path=runtime / "direct.log",
    )  # fmt: skip
    processes.append(direct.start())
    wait_until(lambda: port_accepts("127.0.0.1", ports["direct"]), process=direct, what="listening")
    floor, baselines = start_floor(runtime, ports, processes)

    echo_java = build_java_echo(runtime)
    dev_log = runtime / "dev.log"
    dev = ManagedProcess(
        "funcatron-wf dev",
        [str(Path(sys.executable).parent / "funcatron-wf"), "dev", str(BENCH / "echo"),
         str(BENCH / "echo-js"), str(echo_java),
         "--port", str(ports["a"]), "--queue", ECHO_QUEUE,
         "--temporal", f"127.0.0.1:{ports['grpc']}", "--temporal-http", f"127.0.0.1:{ports['http']}"],
        log_path=dev_log,
    )  # fmt: skip
    dev.stop_signal = 2  # SIGINT, as Ctrl-C
    processes.append(dev.start())
    wait_until(
        lambda: "ready; Ctrl-C" in dev_log.read_text(), process=dev, what="ready", timeout=90
    )
    pids = dev_pids(dev_log)
    # the same platform with the fast path off, in a namespace of its own
    usual_log = runtime / "dev-usual.log"
    usual = ManagedProcess(
        "funcatron-wf dev, fast path off",
        [str(Path(sys.executable).parent / "funcatron-wf"), "dev", str(BENCH / "echo"),
         "--port", str(ports["u"]),
         "--temporal", f"127.0.0.1:{ports['grpc']}", "--temporal-http", f"127.0.0.1:{ports['http']}"],
        log_path=usual_log,
        env={**os.environ, "FUNCATRON_FAST_PATH": "false", "FUNCATRON_NAMESPACE": USUAL_NAMESPACE},
    )  # fmt: skip
    usual.stop_signal = 2
    processes.append(usual.start())
    wait_until(
        lambda: "ready; Ctrl-C" in usual_log.read_text(), process=usual, what="ready", timeout=90
    )
    pids.update({f"u {name}": pid for name, pid in dev_pids(usual_log).items()})
    pids["temporal"] = temporal.pid
    amqp_url = re.search(r"AMQP: +(\S+)", dev_log.read_text()).group(1)
    ready = runtime / "amqp-echo.ready"
    amqp_echo = ManagedProcess(
        "amqp echo", [sys.executable, str(BENCH / "amqp_echo.py"), amqp_url, DIRECT_QUEUE,
                      str(ready)],
        log_path=runtime / "amqp-echo.log",
    )  # fmt: skip
    processes.append(amqp_echo.start())
    wait_until(ready.exists, process=amqp_echo, what="consuming")

    targets = {
        "a": Target(
            "a", "funcatron-wf (fast path)", f"http://127.0.0.1:{ports['a']}/echo/hi", "echo.bench"
        ),
        "u": Target(
            "u",
            "funcatron-wf, fast path off",
            f"http://127.0.0.1:{ports['u']}/echo/hi",
            "echo.bench",
        ),
        # the same Func in other languages, right after a: paired with it
        "j": Target(
            "j",
            "funcatron-wf JS (Node host)",
            f"http://127.0.0.1:{ports['a']}/echo/hi",
            "echo-js.bench",
        ),  # fmt: skip
        "v": Target(
            "v",
            "funcatron-wf Java (JVM host)",
            f"http://127.0.0.1:{ports['a']}/echo/hi",
            "echo-java.bench",
        ),  # fmt: skip
        "b": Target("b", "Temporal floor", f"http://127.0.0.1:{ports['b']}/echo/hi", "floor"),
        "c": Target(
            "c", "direct (nginx -> Python)", f"http://127.0.0.1:{ports['c']}/echo/hi", "direct"
        ),
        "q": Target(
            "q",
            "funcatron-wf queue RPC",
            amqp_url,
            queue=ECHO_QUEUE,
            headers={
                "x-funcatron-host": "echo.bench",
                "x-funcatron-method": "GET",
                "x-funcatron-path": "/echo/hi",
            },
        ),  # fmt: skip
        "d": Target("d", "direct aio-pika RPC", amqp_url, queue=DIRECT_QUEUE),
        "h": Target(
            "h",
            "funcatron-wf chain, 3 steps",
            f"http://127.0.0.1:{ports['a']}/chain3/hi",
            "echo.bench",
        ),  # fmt: skip
    }
    pids["amqp echo"] = amqp_echo.pid
    pids["floor worker"] = floor.pid
    pids["baselines nginx"] = baselines.pid
    pids["direct handler"] = direct.pid
    return targets, pids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds; medians are reported"
    )
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (make bench does)")

    runtime = Path(tempfile.mkdtemp(prefix="funcatron-bench-"))
    runtime.chmod(0o755)
    processes: list[ManagedProcess] = []
    started = time.monotonic()
    try:
        print("starting Temporal, the floor, the direct baseline and funcatron-wf ...", flush=True)
        targets, pids = start_stack(runtime, processes)
        print(
            f"JVM host start (load the Func, say ready): {jvm_start_seconds(runtime / 'echo-java'):.2f} s"
        )
        source = f"source-{ECHO_QUEUE}"
        platform = {
            name: pids[name] for name in ("tron", "runner", "nginx", "temporal", source, "rabbitmq")
        }
        # whose CPU each target's requests spend (the server is shared)
        cpu_pids = {
            "a": {n: pids[n] for n in ("temporal", "tron", "runner", "nginx")},
            "u": {n: pids[n] for n in ("temporal", "u tron", "u runner", "u nginx")},
            "h": {n: pids[n] for n in ("temporal", "tron", "runner", "nginx")},
            "j": {n: pids[n] for n in ("temporal", "tron", "runner", "nginx")},
            "v": {n: pids[n] for n in ("temporal", "tron", "runner", "nginx")},
            "b": {n: pids[n] for n in ("temporal", "floor worker", "baselines nginx")},
            "q": {n: pids[n] for n in ("temporal", "tron", "runner", source, "rabbitmq")},
            "d": {n: pids[n] for n in ("amqp echo", "rabbitmq")},
        }
        cpu_per_request: dict[str, dict[str, list[float]]] = {key: {} for key in cpu_pids}
        at_rest = {name: rss_mb(pid) for name, pid in platform.items()}
        for target in targets.values():
            run_sample(target, 4, 2)  # warm up: caches, JIT, connection pools
        samples: dict[tuple[str, int], list[Sample]] = {}
        chain_rounds: list[dict[str, float]] = []
        sampler = RssSampler(platform)
        sampler.start()
        for round_number in range(1, options.rounds + 1):
            chain_rounds.append(
                chain_against_calls(
                    targets["a"].url.rsplit("/echo/", 1)[0], "echo.bench", options.seconds
                )
            )
            print(
                f"  round {round_number} c=1  one client, p50 ms: "
                + ", ".join(f"{name} {ms:.2f}" for name, ms in chain_rounds[-1].items()),
                flush=True,
            )
            for connections in CONCURRENCIES:
                for target in targets.values():
                    watched = cpu_pids.get(target.key, {})
                    before = {n: cpu_seconds(p) for n, p in watched.items()}
                    sample = run_sample(target, connections, options.seconds)
                    if connections == 1 and watched:
                        handled = sample.rps * options.seconds
                        for n, p in watched.items():
                            spent = (cpu_seconds(p) - before[n]) * 1000 / handled
                            cpu_per_request[target.key].setdefault(n, []).append(spent)
                    samples.setdefault((target.key, connections), []).append(sample)
                    if connections > 1:
                        # the requests still in flight when wrk stopped finish
                        # before the next target runs, not during it
                        time.sleep(SETTLE_SECONDS)
                    print(
                        f"  round {round_number} c={connections:<2} {target.label:26} "
                        f"p50 {sample.p50_ms:7.2f} ms  p99 {sample.p99_ms:7.2f} ms  {sample.rps:8.1f} req/s",
                        flush=True,
                    )
        sampler.stop.set()
        report(targets, samples, at_rest, sampler.peak, time.monotonic() - started)
        report_chain(chain_rounds)
        print("\nCPU per request at c=1 (ms, median over rounds)")
        for key, spent in cpu_per_request.items():
            cells = "  ".join(f"{n} {statistics.median(v):5.1f}" for n, v in spent.items())
            print(f"  {key}. {cells}")
    finally:
        for process in reversed(processes):
            process.stop()
        shutil.rmtree(runtime, ignore_errors=True)


def report_chain(rounds: list[dict[str, float]]) -> None:
    """A chain step's cost against a call over HTTP, paired within each round."""

    def median(figure) -> float:
        return statistics.median(figure(each) for each in rounds)

    print("\na chain of 3 steps against the same Func called 3 times over HTTP (one client, c=1)")
    for name in rounds[0]:
        print(f"  {name:16} p50 {median(lambda r, n=name: r[n]):7.2f} ms")
    per_step = median(lambda r: (r["chain of three"] - r["one call"]) / 2)
    print(
        f"  a step after the first costs {per_step:.2f} ms; a call over HTTP "
        f"{median(lambda r: r['one call']):.2f} ms; the chain takes "
        f"{times(median(lambda r: r['chain of three'] / r['three calls']))} the time of 3 calls"
    )


def times(ratio: float) -> str:
    """A ratio with two significant digits at least (a/c throughput is ~0.005x)."""
    return f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.2g}x"


def report(targets, samples, at_rest, under_load, elapsed: float) -> None:
    def median(key: str, connections: int, field: str) -> float:
        return statistics.median(getattr(s, field) for s in samples[(key, connections)])

    print(f"\nmedians over {len(samples[('a', 1)])} interleaved rounds ({elapsed:.0f} s in all)\n")
    print(
        f"{'':28}{'c=1 p50':>10}{'c=1 p99':>10}{'c=1 rps':>10}{'c=32 p50':>10}{'c=32 p99':>10}{'c=32 rps':>10}"
    )
    for key, target in targets.items():
        print(
            f"{key}. {target.label:25}"
            + "".join(
                f"{median(key, c, f):>10.2f}" if f != "rps" else f"{median(key, c, f):>10.1f}"
                for c in CONCURRENCIES
                for f in ("p50_ms", "p99_ms", "rps")
            )
        )

    def paired(key: str, base: str, connections: int, field: str) -> float:
        """The median over rounds of key's figure over base's in the same round:
        the two ran one after the other, so the machine's drift cancels out."""
        pairs = zip(samples[(key, connections)], samples[(base, connections)], strict=True)
        return statistics.median(getattr(x, field) / getattr(y, field) for x, y in pairs)

    print("\nratios: median over rounds of the ratio within each round")
    pairs = (("a", "b"), ("u", "b"), ("a", "u"), ("a", "c"), ("q", "a"), ("q", "d"), ("j", "a"),
             ("v", "a"))  # fmt: skip
    for key, base in pairs:
        print(
            f"{key}/{base}: p50 c=1 {times(paired(key, base, 1, 'p50_ms'))}   "
            f"p50 c=32 {times(paired(key, base, 32, 'p50_ms'))}   "
            f"throughput c=32 {times(paired(key, base, 32, 'rps'))}"
        )
    print(
        "\ntargets: a/b p50 c=1 <= 0.7x; a/b throughput c=32 >= 1.5x (u/b: the usual path's);"
        "\n         q/a p50 c=1 <= 1.2x; q/a throughput c=32 >= 1.0x; j/a p50 c=1 <= 1.1x"
        "\n         v/a: the JVM host's per-request overhead, warm"
    )
    print("\nRSS (MB)        at rest   under load")
    for name in at_rest:
        print(f"  {name:12}{at_rest[name]:10.1f}{under_load[name]:12.1f}")


if __name__ == "__main__":
    main()
