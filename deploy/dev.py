"""`funcatron-wf dev`: the whole platform for one or more Func folders on this
machine: the embedded Temporal server (unless --temporal), a Tron worker, a
Runner worker and the nginx front, and with --queue a queue source per queue
(and a throw-away RabbitMQ unless FUNCATRON_AMQP_URL names one), each a child
process stopped by pid.

Everything that can be checked before starting anything is checked first
(specs, operationIds, ports), so a mistake costs one clear line, not a
half-started stack.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from funcatron_wf.deploy.processes import (
    ManagedProcess,
    any_free_port,
    port_accepts,
    require_free_port,
    wait_until,
)
from funcatron_wf.deploy.rabbitmq import check_rabbitmq_installed, local_broker, wait_for_broker
from funcatron_wf.deploy.temporal_dev import dev_server
from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.contracts import ChainPlan, ChainStep, FuncSettings
from funcatron_wf.engine.errors import ServiceStartError
from funcatron_wf.engine.registry_client import register_func
from funcatron_wf.engine.settings import Settings
from funcatron_wf.engine.spec_rewriting import SpecRewrite, parse_rewrites
from funcatron_wf.engine.temporal_client import connect, connect_when_ready
from funcatron_wf.sources.http_front import check_nginx_installed, nginx_front
from funcatron_wf.workers.func_folder import FuncFolder, link_chains

Say = Callable[[str], None]
# A worker restarted this many times within the window is left dead, and dev stops.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0


def check_func_folders(
    folders: list[str | Path], rewrites: list[SpecRewrite] | None = None
) -> list[FuncFolder]:
    """Load every folder, check their chains against each other and resolve
    every operationId, or raise the first problem."""
    loaded = link_chains([FuncFolder.load(folder, rewrites) for folder in folders])
    for folder in loaded:
        folder.resolve_operations()
    return loaded


def describe_chain(plan: ChainPlan) -> str:
    """'quote -> [stock | risk] -> audit (detached) -> accept (when ...)'."""

    def step(each: ChainStep) -> str:
        text = f"{each.name}={each.call}"
        if not each.reply:
            text += " (detached)"
        if each.when:
            text += f" (when {each.when})"
        return text

    return " -> ".join(
        "[" + " | ".join(map(step, stage.steps)) + "]" if stage.parallel else step(stage.steps[0])
        for stage in plan.stages
    )


def check_ports(settings: Settings) -> None:
    require_free_port(settings.listen, settings.port, what="HTTP front", flag="--port")
    if settings.embedded_temporal:
        for port, what, flag in (
            (settings.temporal_port, "Temporal gRPC", "--temporal-port"),
            (settings.temporal_ui_port, "Temporal UI", "--temporal-ui-port"),
            (settings.temporal_http_port, "Temporal HTTP API", "--temporal-http-port"),
        ):
            require_free_port("127.0.0.1", port, what=what, flag=flag)


def _worker_command(role: str, settings: Settings, ready_file: Path, *extra: str) -> list[str]:
    """``role``: the command, e.g. "tron" or "source queue"."""
    return [
        sys.executable, "-m", "funcatron_wf", *role.split(),
        "--temporal", settings.temporal_address,
        "--namespace", settings.namespace,
        "--blob-dir", str(settings.blob_dir),
        "--ready-file", str(ready_file),
        *extra,
    ]  # fmt: skip


class DevStack:
    def __init__(
        self,
        settings: Settings,
        folders: list[FuncFolder],
        *,
        queues: list[str] | None = None,
        say: Say = print,
    ) -> None:
        self.settings = settings
        self.folders = folders
        self.queues = queues or []
        self.amqp_url = settings.amqp_url
        self.front_door = ""  # HOST:PORT, once the Tron serves it
        self.say = say
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="funcatron-dev-"))
        # nginx workers drop root; they must reach the temp dirs in here.
        self.runtime_dir.chmod(0o755)
        blob_dir = settings.blob_dir or self.runtime_dir / "blobs"
        self.settings = settings = settings.model_copy(update={"blob_dir": blob_dir})
        BlobStore(blob_dir).prepare()
        self.processes: list[ManagedProcess] = []
        # workers dev brings back when they die: name -> their ready file
        self.restartable: dict[str, Path] = {}
        self.restarts: dict[str, list[float]] = {}

    def _start(self, process: ManagedProcess) -> ManagedProcess:
        self.processes.append(process.start())
        self.say(f"started {process.name} (pid {process.pid})")
        return process

    def _start_worker(self, role: str, *extra: str, name: str | None = None) -> None:
        name = name or role
        ready_file = self.runtime_dir / f"{name}.ready"
        process = self._start(
            ManagedProcess(name, _worker_command(role, self.settings, ready_file, *extra))
        )
        wait_until(ready_file.exists, process=process, what="ready", timeout=60)
        self.restartable[name] = ready_file

    async def _restart(self, index: int, code: int) -> None:
        """Bring back a worker that died (a Func that crashed it, the OOM
        killer): its calls in flight are retried by Temporal once its
        heartbeats stop, on the new one. A worker that keeps dying stops dev."""
        dead = self.processes[index]
        why = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        now = time.monotonic()
        recent = [t for t in self.restarts.get(dead.name, []) if now - t < RESTART_WINDOW]
        if len(recent) >= MAX_RESTARTS:
            raise ServiceStartError(
                f"{dead.name} (pid {dead.pid}) {why}, the {len(recent) + 1}th time in "
                f"{RESTART_WINDOW:.0f} s; not restarting it again"
            )
        self.restarts[dead.name] = [*recent, now]
        self.say(f"{dead.name} (pid {dead.pid}) {why}; restarting it")
        ready_file = self.restartable[dead.name]
        ready_file.unlink(missing_ok=True)
        process = ManagedProcess(dead.name, dead.argv).start()
        self.processes[index] = process
        self.say(f"started {process.name} (pid {process.pid})")
        await asyncio.to_thread(
            wait_until, ready_file.exists, process=process, what="ready", timeout=60
        )

    async def start(self) -> None:
        settings = self.settings
        if settings.embedded_temporal:
            temporal = self._start(
                dev_server(
                    port=settings.temporal_port,
                    ui_port=settings.temporal_ui_port,
                    http_port=settings.temporal_http_port,
                    runtime_dir=self.runtime_dir,
                    namespace=settings.namespace,
                )
            )
            client = await connect_when_ready(
                settings.temporal_address,
                settings.namespace,
                still_starting=lambda: temporal.exit_code() is None,
            )
            wait_until(
                lambda: port_accepts("127.0.0.1", settings.temporal_http_port),
                process=temporal,
                what="its HTTP API listening",
            )
        else:
            client = await connect(settings.temporal_address, settings.namespace)
        # The Tron's front door: the HTTP front offers it each request first.
        self.front_door = front_door = settings.tron_http or f"127.0.0.1:{any_free_port()}"
        self._start_worker("tron", "--front-door", front_door)
        for folder in self.folders:
            func_settings = FuncSettings(
                dev_mode=True,
                validate_responses=True,
                heartbeat_timeout=settings.heartbeat_timeout,
            )
            await register_func(client, folder.registration(func_settings))
        self._start_worker("runner", *(str(folder.path) for folder in self.folders))
        front = self._start(
            nginx_front(settings.model_copy(update={"tron_http": front_door}), self.runtime_dir)
        )
        wait_until(
            lambda: port_accepts(settings.listen, settings.port), process=front, what="listening"
        )
        if self.queues:
            self._start_queue_sources()

    def _start_queue_sources(self) -> None:
        if self.amqp_url is None:  # a throw-away broker, stopped with the rest
            broker = local_broker(self.runtime_dir / "rabbitmq")
            self._start(broker.epmd)
            self._start(broker.server)
            wait_for_broker(broker)
            self.amqp_url = broker.url
        for queue in self.queues:
            self._start_worker(
                "source queue",
                *("--amqp", self.amqp_url, "--queue", queue, "--front-door", self.front_door),
                name=f"source-{queue}",
            )

    def describe(self) -> str:
        lines = [f"HTTP front:  http://{self.settings.listen}:{self.settings.port}"]
        if self.settings.temporal_ui_url:
            lines.append(f"Temporal UI: {self.settings.temporal_ui_url}")
        if self.queues:
            lines.append(f"AMQP:        {self.amqp_url} (queues {', '.join(self.queues)})")
        for folder in self.folders:
            lines.append(f"Func {folder.name} ({folder.sha[:12]}) from {folder.path}:")
            lines += [
                f"  {r.method:7} {r.host or '*'}{r.base_path}{r.path_template} -> "
                + (f"chain {r.chain}" if r.chain else r.operation_id)
                for r in folder.routes
            ]
            lines += [f"  chain {plan.name}: {describe_chain(plan)}" for plan in folder.chains]
        return "\n".join(lines)

    async def wait(self) -> None:
        """Until Ctrl-C / SIGTERM. A worker (Tron, Runner, queue source) that
        dies is restarted; any other child that dies stops dev, saying which."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        while not stop.is_set():
            for index, process in enumerate(self.processes):
                code = process.exit_code()
                if code is None:
                    continue
                if process.name in self.restartable:
                    await self._restart(index, code)
                else:
                    raise ServiceStartError(
                        f"{process.name} (pid {process.pid}) exited with {code}"
                    )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
            self.say(f"stopped {process.name} (pid {process.pid})")
        shutil.rmtree(self.runtime_dir, ignore_errors=True)


async def run_dev(
    settings: Settings,
    folder_paths: list[str | Path],
    *,
    queues: list[str] | None = None,
    say: Say = print,
) -> None:
    folders = check_func_folders(folder_paths, parse_rewrites(settings.spec_rewrite))
    check_nginx_installed()
    if queues and settings.amqp_url is None:
        check_rabbitmq_installed()
    settings.temporal_http_address  # noqa: B018 - raises ConfigError early if it cannot be known
    check_ports(settings)
    stack = DevStack(settings, folders, queues=queues, say=say)
    try:
        await stack.start()
        say(stack.describe())
        say("ready; Ctrl-C stops everything")
        await stack.wait()
    finally:
        stack.stop()
