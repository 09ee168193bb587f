"""The platform the fault suite breaks: the local stack's parts
(deploy/stack.py) for the suite's Func (tests/faults/func), each of which
the suite can kill or restart: a Temporal dev server on a database file,
RabbitMQ, nginx, the Tron with its front door, the queue source and
Runners. Workers are brought back by the stack's own supervision
(LocalStack.tend, as `up` does); the services a cluster would restart
(Temporal, RabbitMQ, nginx) the suite restarts itself, on the same ports
and data."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from temporalio.client import Client

from funcatron_wf.deploy.processes import ManagedProcess, any_free_port, port_accepts, wait_until
from funcatron_wf.deploy.rabbitmq import LocalBroker, start_local_broker, wait_for_broker
from funcatron_wf.deploy.stack import LocalStack, Say
from funcatron_wf.deploy.temporal_dev import dev_server
from funcatron_wf.engine.contracts import FuncSettings
from funcatron_wf.engine.registry_client import register_func
from funcatron_wf.engine.settings import Settings
from funcatron_wf.engine.temporal_client import connect_when_ready
from funcatron_wf.sources.http_front import nginx_front
from funcatron_wf.workers.func_folder import FuncFolder

FUNC = Path(__file__).with_name("func")
HOST = "faults.local"
QUEUE = "faults"
NAMESPACE = "faults"
RUNNERS = 3
# A Runner killed mid-call: its call is run again after this many seconds
# without a heartbeat (the platform's default is for longer calls).
HEARTBEAT_TIMEOUT = 2.0
# The blob store's own small filesystem (a tmpfs the suite mounts), to fill;
# the front's inline limit lowered so the large calls' bodies land in it.
BLOB_DISK = "256m"
# Bodies kept a minute, not a day: the load writes about 2 MB a second.
BLOB_RETENTION = 60
INLINE_BODY_MAX = 16 * 1024


class FaultStack:
    def __init__(self, say: Say = print) -> None:
        self.runtime = Path(tempfile.mkdtemp(prefix="funcatron-faults-"))
        self.say = say
        self.folder = Path(shutil.copytree(FUNC, self.runtime / "func"))
        self.ledger = self.runtime / "ledger.log"  # written by func/ledger.py
        temporal_port, ui_port, http_port = any_free_port(), any_free_port(), any_free_port()
        self.settings = Settings(
            namespace=NAMESPACE,
            port=any_free_port(),
            temporal=f"127.0.0.1:{temporal_port}",
            temporal_http=f"127.0.0.1:{http_port}",
            tron_http=f"127.0.0.1:{any_free_port()}",
            blob_dir=self.runtime / "blobs",
            inline_body_max=INLINE_BODY_MAX,
        )
        self.filler = self.runtime / "blobs" / "filler"
        self.blob_disk_mounted = False
        self.temporal = dev_server(
            port=temporal_port,
            ui_port=ui_port,
            http_port=http_port,
            runtime_dir=self.runtime,
            namespace=NAMESPACE,
            db_file=self.runtime / "temporal.db",
            headless=True,
        )
        self.broker: LocalBroker | None = None
        self.nginx: ManagedProcess | None = None
        self.stack: LocalStack | None = None
        self.client: Client | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    @property
    def amqp_url(self) -> str:
        assert self.broker is not None
        return self.broker.url

    async def start(self) -> None:
        self._mount_blob_disk()
        self.temporal.start()
        self.say(f"started temporal (pid {self.temporal.pid})")
        self.client = await self._connect()
        self.broker = await asyncio.to_thread(start_local_broker, self.runtime / "rabbitmq")
        self.say(f"started rabbitmq (pid {self.broker.server.pid})")
        settings = self.settings.model_copy(update={"amqp_url": self.broker.url})
        self.stack = LocalStack(
            settings,
            self.runtime,
            say=self.say,
            worker_env={"FUNCATRON_BLOB_RETENTION": str(BLOB_RETENTION)},
        )
        await asyncio.to_thread(self.stack.start_tron)
        folder = FuncFolder.load(self.folder)
        await register_func(
            self.client, folder.registration(FuncSettings(heartbeat_timeout=HEARTBEAT_TIMEOUT))
        )
        for number in range(1, RUNNERS + 1):
            await asyncio.to_thread(
                self.stack.start_worker, "runner", str(self.folder), name=f"runner-{number}"
            )
        await asyncio.to_thread(self.stack.start_queue_sources, [QUEUE])
        self.nginx = await asyncio.to_thread(self._start_nginx)

    async def _connect(self) -> Client:
        return await connect_when_ready(
            self.settings.temporal_address,
            NAMESPACE,
            still_starting=lambda: self.temporal.exit_code() is None,
        )

    def _start_nginx(self, process: ManagedProcess | None = None) -> ManagedProcess:
        nginx = (process or nginx_front(self.settings, self.runtime)).start()
        wait_until(lambda: port_accepts("127.0.0.1", self.settings.port), process=nginx, what="up")
        self.say(f"started nginx (pid {nginx.pid})")
        return nginx

    async def tend(self) -> None:
        """Bring back the workers that died (the stack's supervision), until cancelled."""
        assert self.stack is not None
        while True:
            await self.stack.tend()
            await asyncio.sleep(0.1)

    # --- the faults -----------------------------------------------------

    def worker(self, name: str) -> ManagedProcess:
        assert self.stack is not None
        return next(process for process in self.stack.processes if process.name == name)

    def kill(self, name: str) -> None:
        """SIGKILL a worker (runner-N, tron, source-faults); the stack restarts it."""
        process = self.worker(name)
        self.say(f"fault: SIGKILL {name} (pid {process.pid})")
        os.kill(process.pid, signal.SIGKILL)

    async def restart_temporal(self, down: float = 2.0) -> None:
        self.say(f"fault: stop temporal (pid {self.temporal.pid}) for {down:g} s")
        await asyncio.to_thread(self.temporal.stop)
        await asyncio.sleep(down)
        self.temporal = self.temporal.again().start()
        self.say(f"started temporal (pid {self.temporal.pid}) on the same database")
        self.client = await self._connect()

    async def restart_rabbitmq(self, down: float = 2.0) -> None:
        broker = self.broker
        assert broker is not None
        self.say(f"fault: stop rabbitmq (pid {broker.server.pid}) for {down:g} s")
        await asyncio.to_thread(broker.server.stop, 30)
        await asyncio.sleep(down)
        broker.server = broker.server.again().start()  # same node, port and data
        await asyncio.to_thread(wait_for_broker, broker)
        self.say(f"started rabbitmq (pid {broker.server.pid}) on the same data")

    def reload_nginx(self) -> None:
        assert self.nginx is not None
        self.say(f"fault: reload nginx (SIGHUP to pid {self.nginx.pid})")
        os.kill(self.nginx.pid, signal.SIGHUP)

    async def restart_nginx(self) -> None:
        assert self.nginx is not None
        self.say(f"fault: stop nginx (pid {self.nginx.pid}) and start it again")
        await asyncio.to_thread(self.nginx.stop)
        self.nginx = await asyncio.to_thread(self._start_nginx, self.nginx.again())

    def fill_blob_disk(self) -> None:
        """Write a file until the blob store's filesystem is full."""
        self.say("fault: fill the blob store's disk")
        chunk = b"\0" * (1 << 20)
        with open(self.filler, "wb", buffering=0) as filler:
            try:
                while True:
                    filler.write(chunk)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
        with contextlib.suppress(OSError):  # the last scraps: a partial chunk fits no more
            with open(self.filler, "ab", buffering=0) as filler:
                while True:
                    filler.write(b"\0" * 4096)

    def free_blob_disk(self) -> None:
        self.filler.unlink()
        self.say("the blob store's disk has room again")

    def _mount_blob_disk(self) -> None:
        blobs = self.runtime / "blobs"
        blobs.mkdir()
        if os.geteuid() != 0:
            raise PermissionError(
                "the fault suite mounts a small tmpfs for the blob store; run it as root"
            )
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={BLOB_DISK},mode=1777", "tmpfs", str(blobs)],
            check=True,
        )
        self.blob_disk_mounted = True

    def stop(self) -> None:
        if self.nginx is not None:
            self.nginx.stop()
        if self.stack is not None:
            self.stack.stop()
        if self.broker is not None:
            self.broker.stop()
        self.temporal.stop()
        if self.blob_disk_mounted:
            subprocess.run(["umount", str(self.runtime / "blobs")], check=True)
        shutil.rmtree(self.runtime, ignore_errors=True)
