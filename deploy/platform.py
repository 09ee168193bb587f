"""The local platform (`funcatron-wf up`): everything on one machine as
supervised processes, kept in a state directory that outlives it.

``STATE_DIR`` holds the Temporal dev server's database (``temporal/``:
restarts keep every deployment and request history), the bundle store
(``store/``), the logs and, while the platform runs, ``platform.json``: its
pid and addresses, which `down` and the deploy commands read to find it.
Runner pools are the `local` substrate's (deploy/local_substrate.py), sized
by the controller; with ``--substrate swarm`` the same parts run as Swarm
services (deploy/swarm_platform.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from funcatron_wf.deploy.autoscaler import autoscaler_for
from funcatron_wf.deploy.controller import Controller
from funcatron_wf.deploy.local_substrate import LocalSubstrate
from funcatron_wf.deploy.processes import pid_alive, require_free_port
from funcatron_wf.deploy.stack import LocalStack, Say
from funcatron_wf.deploy.swarm_platform import SwarmPlatform
from funcatron_wf.deploy.temporal_dev import platform_database
from funcatron_wf.engine.errors import ConfigError, FuncatronError, ServiceStartError
from funcatron_wf.engine.settings import Settings

PLATFORM_FILE = "platform.json"
PLATFORM_LOG = "platform.log"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "funcatron-wf"


def state_dir_of(settings: Settings) -> Path:
    return (settings.state_dir or default_state_dir()).resolve()


@dataclass
class PlatformInfo:
    """What `up` writes to STATE_DIR/platform.json for the other commands."""

    pid: int
    temporal: str
    namespace: str
    bundle_store: str
    lines: list[str]  # the URL lines `up` printed

    @classmethod
    def read(cls, state_dir: Path) -> PlatformInfo | None:
        try:
            document = json.loads((state_dir / PLATFORM_FILE).read_text())
            info = cls(**document)
        except (OSError, ValueError, TypeError):
            return None
        return info if pid_alive(info.pid) else None

    def write(self, state_dir: Path) -> None:
        partial = state_dir / (PLATFORM_FILE + ".partial")
        partial.write_text(json.dumps(asdict(self), indent=1))
        partial.replace(state_dir / PLATFORM_FILE)


class Platform(LocalStack):
    def __init__(
        self, settings: Settings, state_dir: Path, *, queues: list[str], say: Say = print
    ) -> None:
        runtime = state_dir / "run"
        shutil.rmtree(runtime, ignore_errors=True)  # what a crashed run left
        runtime.mkdir(parents=True)
        store = settings.bundle_store or state_dir / "store"
        store.mkdir(parents=True, exist_ok=True)
        super().__init__(settings.model_copy(update={"bundle_store": store}), runtime, say=say)
        self.state_dir = state_dir
        self.queues = queues
        self.controller: Controller | None = None

    async def start(self) -> None:
        client = await self.start_temporal(db_file=platform_database(self.state_dir))
        self.start_tron()
        self.start_front()
        self.start_queue_sources(self.queues)
        self.controller = Controller(
            client, LocalSubstrate(self), autoscaler=autoscaler_for(client, self.settings)
        )
        await self.controller.reconcile()  # the pools of what was deployed before

    async def serve(self) -> None:
        assert self.controller is not None
        await self.wait(every_second=self.controller.reconcile)


async def run_platform(
    settings: Settings, state_dir: Path, *, queues: list[str], say: Say = print
) -> None:
    """`up --foreground`: start, say ready, serve until SIGINT/SIGTERM (a
    signal while it starts stops what it started, too)."""
    running = PlatformInfo.read(state_dir)
    if running is not None:
        raise ConfigError(f"a platform already runs in {state_dir} (pid {running.pid})")
    if settings.substrate in ("kubernetes", "mesos"):
        raise ConfigError(
            f"`up` runs the platform here or on a swarm; on {settings.substrate} the cluster "
            f"runs it (docs/{settings.substrate}.md) and `funcatron-wf controller` sizes its pools"
        )
    swarm = None
    if settings.substrate == "swarm":
        if queues:
            raise ConfigError(
                "--queue is for the local platform; on swarm, run `funcatron-wf source queue` "
                "as a service of your own for now"
            )
        swarm = SwarmPlatform(settings, state_dir, say=say)
        swarm.remove_services()  # what a run that crashed left (they hold the ports)
    require_free_port(settings.listen, settings.port, what="HTTP front", flag="--port")
    if settings.embedded_temporal:
        require_free_port("127.0.0.1", settings.temporal_port, what="Temporal gRPC", flag="--temporal-port")  # fmt: skip
    platform: Platform | SwarmPlatform = swarm or Platform(
        settings, state_dir, queues=queues, say=say
    )
    starting = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # serve() installs its own once started
        loop.add_signal_handler(signum, starting.cancel if starting else lambda: None)
    try:
        await platform.start()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        assert platform.settings.bundle_store is not None
        lines = platform.url_lines(queues)
        PlatformInfo(
            pid=os.getpid(),
            temporal=platform.settings.temporal_address,
            namespace=platform.settings.namespace,
            bundle_store=str(platform.settings.bundle_store),
            lines=lines,
        ).write(state_dir)
        say("\n".join(lines))
        say(f"ready; state in {state_dir}")
        await platform.serve()
    finally:
        (state_dir / PLATFORM_FILE).unlink(missing_ok=True)
        platform.stop()


def start_in_background(
    argv: list[str], state_dir: Path, *, timeout: float = 120.0
) -> PlatformInfo:
    """`up`: run `up --foreground` detached, logging to STATE_DIR/platform.log,
    and return once it is ready (or fail with the log's tail)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    running = PlatformInfo.read(state_dir)
    if running is not None:
        raise ConfigError(
            f"a platform already runs in {state_dir} (pid {running.pid}); `funcatron-wf down` stops it"
        )
    log_path = state_dir / PLATFORM_LOG
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            [sys.executable, "-m", "funcatron_wf", *argv],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while True:
        info = PlatformInfo.read(state_dir)
        if info is not None and info.pid == child.pid:
            return info
        if child.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            raise ServiceStartError(
                f"the platform exited with {child.returncode}; {log_path} ends:\n{tail}"
            )
        if time.monotonic() > deadline:
            child.terminate()  # it stops what it started
            try:
                child.wait(90)
            except subprocess.TimeoutExpired:
                child.kill()
            raise ServiceStartError(
                f"the platform was not ready within {timeout:.0f} s (stopped it); see {log_path}"
            )
        time.sleep(0.2)


def stop_platform(state_dir: Path, *, timeout: float = 90.0, say: Say = print) -> None:
    """`down`: SIGTERM to the platform's pid, then wait for it to stop everything."""
    info = PlatformInfo.read(state_dir)
    if info is None:
        raise FuncatronError(f"no platform runs in {state_dir}")
    os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(info.pid):
        if time.monotonic() > deadline:
            raise ServiceStartError(
                f"the platform (pid {info.pid}) did not stop within {timeout:.0f} s"
            )
        time.sleep(0.2)
    say(f"stopped the platform in {state_dir} (pid {info.pid})")


def platform_settings(settings: Settings) -> Settings:
    """The settings a deploy command uses: the running platform's Temporal
    and bundle store, unless FUNCATRON_TEMPORAL / --temporal names a cluster."""
    if settings.temporal is not None:
        return settings
    state_dir = state_dir_of(settings)
    info = PlatformInfo.read(state_dir)
    if info is None:
        raise ConfigError(
            f"no platform runs in {state_dir}: start one with `funcatron-wf up` "
            "(or give --state-dir, or --temporal for a cluster)"
        )
    return settings.model_copy(
        update={
            "temporal": info.temporal,
            "namespace": info.namespace,
            "bundle_store": settings.bundle_store or Path(info.bundle_store),
        }
    )
