"""A platform on this machine as child processes: the embedded Temporal
server (unless an external one is set), a Tron with its front door, the
nginx front, queue sources, and workers; each started in order, a worker
that dies restarted (one that keeps dying stops the stack), and everything
stopped by pid. ``dev`` (deploy/dev.py) and the local platform
(deploy/platform.py, `up`) are two uses of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from temporalio.client import Client

from funcatron_wf.deploy.processes import (
    ManagedProcess,
    any_free_port,
    port_accepts,
    wait_until,
)
from funcatron_wf.deploy.rabbitmq import local_broker, wait_for_broker
from funcatron_wf.deploy.temporal_dev import dev_server
from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.errors import ServiceStartError
from funcatron_wf.engine.settings import Settings
from funcatron_wf.engine.temporal_client import connect_when_ready, connect_with
from funcatron_wf.sources.http_front import nginx_front
from funcatron_wf.workers.ui_codec import CODEC_PATH

Say = Callable[[str], None]
# A worker restarted this many times within the window is left dead, and the stack stops.
MAX_RESTARTS = 5
RESTART_WINDOW = 60.0


def worker_command(role: str, settings: Settings, ready_file: Path, *extra: str) -> list[str]:
    """``role``: the command, e.g. "tron" or "source queue"."""
    argv = [
        sys.executable, "-m", "funcatron_wf", *role.split(),
        "--temporal", settings.temporal_address,
        "--namespace", settings.namespace,
        "--blob-dir", str(settings.blob_dir),
        "--ready-file", str(ready_file),
    ]  # fmt: skip
    if settings.bundle_store is not None and role in ("tron", "runner"):
        argv += ["--bundle-store", str(settings.bundle_store)]
    return [*argv, *extra]


class LocalStack:
    def __init__(
        self,
        settings: Settings,
        runtime_dir: Path,
        *,
        say: Say = print,
        worker_env: dict[str, str] | None = None,
    ) -> None:
        """``worker_env``: settings for the workers beyond their flags
        (FUNCATRON_... variables), over this process's environment."""
        self.runtime_dir = runtime_dir
        self.worker_env = {**os.environ, **worker_env} if worker_env else None
        # nginx workers drop root; they must reach the temp dirs in here.
        runtime_dir.chmod(0o755)
        blob_dir = settings.blob_dir or runtime_dir / "blobs"
        self.settings = settings.model_copy(update={"blob_dir": blob_dir})
        BlobStore(blob_dir).prepare()
        self.amqp_url = settings.amqp_url
        self.front_door = ""  # HOST:PORT, chosen by _front_door_address
        self.say = say
        self.processes: list[ManagedProcess] = []
        # workers brought back when they die: name -> their ready file
        self.restartable: dict[str, Path] = {}
        self.restarts: dict[str, list[float]] = {}
        # helpers whose exit is no failure (dev's standby Runner): forgotten when they die
        self.expendable: set[str] = set()
        # workers that may be given up on (a pool's Runners): one that keeps
        # dying is left dead and reported, the stack goes on
        self.may_give_up: set[str] = set()
        self._retiring: set[asyncio.Task[None]] = set()

    def start_process(self, process: ManagedProcess) -> ManagedProcess:
        self.processes.append(process.start())
        self.say(f"started {process.name} (pid {process.pid})")
        return process

    def start_worker(
        self, role: str, *extra: str, name: str | None = None, log_path: Path | None = None
    ) -> ManagedProcess:
        name = name or role
        ready_file = self.runtime_dir / f"{name}.ready"
        ready_file.unlink(missing_ok=True)
        process = self.start_process(
            ManagedProcess(
                name,
                worker_command(role, self.settings, ready_file, *extra),
                log_path=log_path,
                env=self.worker_env,
            )
        )
        wait_until(ready_file.exists, process=process, what="ready", timeout=60)
        self.restartable[name] = ready_file
        return process

    async def start_temporal(self, db_file: Path | None = None) -> Client:
        settings = self.settings
        if not settings.embedded_temporal:
            return await connect_with(settings)
        # the UI asks the Tron's front door to show JSON bodies as JSON
        front_door = self._front_door_address().split(",")[0]
        temporal = self.start_process(
            dev_server(
                port=settings.temporal_port,
                ui_port=settings.temporal_ui_port,
                http_port=settings.temporal_http_port,
                runtime_dir=self.runtime_dir,
                namespace=settings.namespace,
                db_file=db_file,
                codec_endpoint=f"http://{front_door}{CODEC_PATH}",
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
        return client

    def _front_door_address(self) -> str:
        """Where the Tron's front door listens: chosen once, before Temporal
        starts (its UI is told the codec's address there)."""
        if not self.front_door:
            self.front_door = self.settings.tron_http or f"127.0.0.1:{any_free_port()}"
        return self.front_door

    def start_tron(self) -> None:
        """The Tron with its front door: the HTTP front offers it each request first."""
        self.start_worker("tron", "--front-door", self._front_door_address())

    def start_front(self) -> None:
        settings = self.settings
        front = self.start_process(
            nginx_front(
                settings.model_copy(update={"tron_http": self.front_door}), self.runtime_dir
            )
        )
        wait_until(
            lambda: port_accepts(settings.listen, settings.port), process=front, what="listening"
        )

    def start_queue_sources(self, queues: list[str]) -> None:
        if not queues:
            return
        if self.amqp_url is None:  # a throw-away broker, stopped with the rest
            broker = local_broker(self.runtime_dir / "rabbitmq")
            self.start_process(broker.epmd)
            self.start_process(broker.server)
            wait_for_broker(broker)
            self.amqp_url = broker.url
        for queue in queues:
            self.start_worker(
                "source queue",
                *("--amqp", self.amqp_url, "--queue", queue, "--front-door", self.front_door),
                name=f"source-{queue}",
            )

    def url_lines(self, queues: list[str]) -> list[str]:
        lines = [f"HTTP front:  http://{self.settings.listen}:{self.settings.port}"]
        if self.settings.temporal_ui_url:
            lines.append(f"Temporal UI: {self.settings.temporal_ui_url}")
        if queues:
            lines.append(f"AMQP:        {self.amqp_url} (queues {', '.join(queues)})")
        return lines

    async def restart(self, process: ManagedProcess, code: int) -> ManagedProcess | None:
        """Bring back a worker that died (a Func that crashed it, the OOM
        killer): its calls in flight are retried by Temporal once its
        heartbeats stop, on the new one. One that keeps dying stops the stack."""
        why = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with {code}"
        now = time.monotonic()
        recent = [t for t in self.restarts.get(process.name, []) if now - t < RESTART_WINDOW]
        if len(recent) >= MAX_RESTARTS and process.name in self.may_give_up:
            self.forget(process)
            self.say(
                f"{process.name} (pid {process.pid}) {why}, the {len(recent) + 1}th time in "
                f"{RESTART_WINDOW:.0f} s; left stopped (see its log)"
            )
            return None
        if len(recent) >= MAX_RESTARTS:
            raise ServiceStartError(
                f"{process.name} (pid {process.pid}) {why}, the {len(recent) + 1}th time in "
                f"{RESTART_WINDOW:.0f} s; not restarting it again"
            )
        self.restarts[process.name] = [*recent, now]
        self.say(f"{process.name} (pid {process.pid}) {why}; restarting it")
        ready_file = self.restartable[process.name]
        ready_file.unlink(missing_ok=True)
        again = process.again().start()
        self.processes[self.processes.index(process)] = again
        self.say(f"started {again.name} (pid {again.pid})")
        await asyncio.to_thread(
            wait_until, ready_file.exists, process=again, what="ready", timeout=60
        )
        return again

    async def wait(self, every_second: Callable[[], Awaitable[object]] | None = None) -> None:
        """Until Ctrl-C / SIGTERM. A worker that dies is restarted; any other
        child that dies stops the stack, saying which. ``every_second`` runs
        about once a second meanwhile (the local platform's controller)."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        next_tick = 0.0
        while not stop.is_set():
            await self.tend()
            if every_second is not None and time.monotonic() >= next_tick:
                next_tick = time.monotonic() + 1
                await every_second()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.1)

    async def tend(self) -> None:
        """One look at the children: a worker that died is restarted, any
        other child that died stops the stack (ServiceStartError)."""
        for process in list(self.processes):
            code = process.exit_code()
            if code is None or process not in self.processes:
                continue
            if process.name in self.restartable:
                await self.restart(process, code)
            elif process.name in self.expendable:
                self.forget(process)
                self.say(f"{process.name} (pid {process.pid}) exited with {code}")
            else:
                raise ServiceStartError(f"{process.name} (pid {process.pid}) exited with {code}")

    def retire(self, process: ManagedProcess, *, after: float = 0.0, grace: float = 60.0) -> None:
        """Stop a worker on purpose, in the background, ``after`` seconds
        from now: SIGTERM, so it finishes what it holds (killed ``grace``
        seconds later) while the stack goes on. Until then it is not
        restarted, and it is stopped with the stack if that ends first."""
        self.restartable.pop(process.name, None)
        self.expendable.add(process.name)

        async def stop_later() -> None:
            await asyncio.sleep(after)
            self.forget(process)
            await asyncio.to_thread(process.stop, grace)
            self.say(f"stopped {process.name} (pid {process.pid})")

        self._retiring.add(task := asyncio.create_task(stop_later()))
        task.add_done_callback(self._retiring.discard)

    def forget(self, process: ManagedProcess) -> None:
        """A process stopped on purpose (a pool scaled down): not restarted."""
        if process in self.processes:
            self.processes.remove(process)
        self.restartable.pop(process.name, None)

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
            self.say(f"stopped {process.name} (pid {process.pid})")
