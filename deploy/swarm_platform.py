"""`funcatron-wf up --substrate swarm`: the platform as Docker Swarm
services on the swarm DOCKER_HOST names, every one with host networking:

- ``temporal``: the Temporal dev server from the platform's image, on a
  database file in the state directory (unless --temporal names a cluster);
- ``tron``: the Tron with its front door;
- ``front``: nginx with the Lua module (the front's image);
- one Runner service per serving Func version, made and sized by the
  controller through the `swarm` substrate (deploy/swarm_substrate.py).

The controller runs in `up`'s own process, beside the services, as it does
for the local platform; `down` stops that process, which removes every
service it made (Runners drain within their stop grace period). Temporal's
database folder, the bundle store and the blob store are bind-mounted at
the same paths, so every part has the settings a local one gets; no service
runs as root (deploy/swarm_substrate.py says as whom), so `up` gives that
user the folders the services write.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import time
from pathlib import Path
from typing import Any

from funcatron_wf.deploy.autoscaler import autoscaler_for
from funcatron_wf.deploy.controller import Controller
from funcatron_wf.deploy.images import docker_client, latest_images
from funcatron_wf.deploy.processes import any_free_port, port_accepts
from funcatron_wf.deploy.stack import Say
from funcatron_wf.deploy.swarm_substrate import (
    LABEL,
    RunnerSettings,
    ServiceSpec,
    SwarmSubstrate,
    create_service,
    lowest_port_for_users,
    writable_by_services,
)
from funcatron_wf.deploy.temporal_dev import (
    DEV_SERVER_ENVIRONMENT,
    dev_server,
    platform_database,
)
from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.errors import ConfigError, ServiceStartError
from funcatron_wf.engine.settings import Settings
from funcatron_wf.engine.temporal_client import connect_when_ready, connect_with
from funcatron_wf.workers.ui_codec import CODEC_PATH

START_TIMEOUT = 120.0  # seconds for a service to answer


def platform_id(state_dir: Path) -> str:
    """The label of one platform's services: from its state directory."""
    return "funcatron-" + hashlib.sha256(str(state_dir).encode()).hexdigest()[:8]


class SwarmPlatform:
    def __init__(self, settings: Settings, state_dir: Path, *, say: Say = print) -> None:
        lowest_port = lowest_port_for_users()
        if settings.port < lowest_port:
            raise ConfigError(
                f"--port {settings.port}: the front's container runs without root or "
                f"capabilities, so it listens from port {lowest_port} up; "
                "put a load balancer or a port redirect in front for a lower one"
            )
        self.client = docker_client()
        if self.client.info().get("Swarm", {}).get("LocalNodeState") != "active":
            raise ConfigError(
                "this Docker engine is in no swarm: `docker swarm init` first "
                "(the platform's services use the host's network)"
            )
        built = latest_images(self.client)
        if settings.image is None and built is None:
            raise ConfigError(
                "no platform image yet: `funcatron-wf images build` first, or --image"
            )
        self.image = settings.image or (built.platform if built else "")
        built_with_it = built is not None and built.platform == self.image
        if settings.front_image is None and not built_with_it:
            raise ConfigError(f"which front image goes with {self.image}? give --front-image")
        self.front_image = settings.front_image or (built.front if built else "")
        self.state_dir = state_dir
        self.id = platform_id(state_dir)
        store = settings.bundle_store or state_dir / "store"
        blobs = settings.blob_dir or state_dir / "blobs"
        store.mkdir(parents=True, exist_ok=True)
        BlobStore(blobs).prepare()
        self.settings = settings.model_copy(update={"bundle_store": store, "blob_dir": blobs})
        self.front_door = f"127.0.0.1:{any_free_port()}"
        self.say = say
        self.controller: Controller | None = None

    def _labels(self, role: str) -> dict[str, str]:
        return {f"{LABEL}.platform": self.id, f"{LABEL}.role": role}

    def _service(self, spec: ServiceSpec) -> None:
        create_service(self.client, spec)
        self.say(f"started service {spec.name}")

    def _common(self) -> list[str]:
        settings = self.settings
        return ["--temporal", settings.temporal_address, "--namespace", settings.namespace,
                "--blob-dir", str(settings.blob_dir)]  # fmt: skip

    def _environment(self) -> list[str]:
        """What `up` was given in its environment, for every service as for a
        local child process: FUNCATRON_* and OTEL_* (a service's flags win)."""
        return [
            f"{name}={value}"
            for name, value in sorted(os.environ.items())
            if name.startswith(("FUNCATRON_", "OTEL_"))
        ]

    def _tls_files(self) -> list[tuple[Path, bool]]:
        """The Temporal client certificate files, seen where the host has them."""
        settings = self.settings
        files = (settings.temporal_tls_ca, settings.temporal_tls_cert, settings.temporal_tls_key)
        return [(path.resolve(), False) for path in files if path is not None]

    async def start(self) -> None:
        settings = self.settings
        assert settings.bundle_store is not None and settings.blob_dir is not None
        # the folders the services write or read, with the files an earlier
        # run's root containers left (bundles unpacked 0700 among them); here,
        # once the services of a run that crashed are gone
        writable_by_services(settings.bundle_store / "unpacked")
        for folder in BlobStore(settings.blob_dir).folders():  # open to all, but sticky
            writable_by_services(folder)
        if settings.embedded_temporal:
            database = platform_database(self.state_dir)
            writable_by_services(database.parent)
            temporal = dev_server(
                port=settings.temporal_port, ui_port=settings.temporal_ui_port,
                http_port=settings.temporal_http_port, runtime_dir=self.state_dir,
                namespace=settings.namespace, db_file=database,
                codec_endpoint=f"http://{self.front_door}{CODEC_PATH}", binary="temporal",
            )  # fmt: skip
            self._service(
                ServiceSpec(
                    f"{self.id}-temporal",
                    self.image,
                    args=[],
                    command=temporal.argv,
                    labels=self._labels("temporal"),
                    binds=[(database.parent, True)],
                    ready_file=False,
                    env=[f"{name}={value}" for name, value in DEV_SERVER_ENVIRONMENT.items()],
                )  # fmt: skip
            )
            client = await connect_when_ready(settings.temporal_address, settings.namespace)
        else:
            client = await connect_with(settings)
        self._service(
            ServiceSpec(
                f"{self.id}-tron",
                self.image,
                args=[
                    "tron",
                    "--front-door",
                    self.front_door,
                    *self._common(),
                    "--bundle-store",
                    str(settings.bundle_store),
                ],
                labels=self._labels("tron"),
                env=self._environment(),
                binds=[
                    (settings.bundle_store, False),
                    (settings.blob_dir, True),
                    *self._tls_files(),
                ],
            )  # fmt: skip
        )
        await self._answering("tron", self.front_door)
        self._service(
            ServiceSpec(
                f"{self.id}-front",
                self.front_image,
                args=[
                    "--port",
                    str(settings.port),
                    "--listen",
                    settings.listen,
                    "--front-door",
                    self.front_door,
                    # refuses --temporal without --temporal-http, as the local platform does
                    "--temporal-http",
                    settings.temporal_http_address,
                    *self._common(),
                ],
                labels=self._labels("front"),
                env=self._environment(),
                ready_file=False,
                binds=[(settings.blob_dir, True), *self._tls_files()],
            )  # fmt: skip
        )
        await self._answering("front", f"{settings.listen}:{settings.port}")
        runners = RunnerSettings(
            image=self.image, platform=self.id, temporal=settings.temporal_address,
            namespace=settings.namespace, bundle_store=settings.bundle_store,
            blob_dir=settings.blob_dir, env=self._environment(), binds=self._tls_files(),
        )  # fmt: skip
        self.controller = Controller(
            client, SwarmSubstrate(self.client, runners),
            autoscaler=autoscaler_for(client, settings),
        )  # fmt: skip
        await self.controller.reconcile()  # the pools of what was deployed before

    async def _answering(self, role: str, address: str) -> None:
        host, _, port = address.rpartition(":")
        deadline = time.monotonic() + START_TIMEOUT
        while not port_accepts(host, int(port)):
            if time.monotonic() > deadline:
                raise ServiceStartError(
                    f"the {role} service does not answer on {address}: {self._task_errors(role)}"
                )
            await asyncio.sleep(0.3)

    def _task_errors(self, role: str) -> str:
        errors = [
            task["Status"].get("Err") or task["Status"].get("State")
            for service in self._services(role)
            for task in service.tasks()
        ]
        return "; ".join(str(error) for error in errors[-3:]) or "no task started"

    def url_lines(self, queues: list[str] | None = None) -> list[str]:
        lines = [f"HTTP front:  http://{self.settings.listen}:{self.settings.port}"]
        if self.settings.temporal_ui_url:
            lines.append(f"Temporal UI: {self.settings.temporal_ui_url}")
        lines.append(f"Swarm:       services labelled {LABEL}.platform={self.id}")
        return lines

    async def serve(self) -> None:
        assert self.controller is not None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        while not stop.is_set():
            await self.controller.reconcile()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    def _services(self, role: str | None = None) -> list[Any]:
        labels = [f"{LABEL}.platform={self.id}"] + ([f"{LABEL}.role={role}"] if role else [])
        return list(self.client.services.list(filters={"label": labels}))

    def remove_services(self, drain_timeout: float = 60.0) -> None:
        """Every service of this platform, a role at a time: the Runners first
        (finishing a call needs the Tron and Temporal), each role's
        containers gone before the next (their ports free for an `up`)."""
        for role in ("runner", "front", "tron", "temporal"):
            removed = self._services(role)
            for service in removed:
                service.remove()
                self.say(f"removed service {service.name}")
            if not removed:
                continue
            deadline = time.monotonic() + drain_timeout
            containers = {"label": [f"{LABEL}.platform={self.id}", f"{LABEL}.role={role}"]}
            while self.client.containers.list(filters=containers) and time.monotonic() < deadline:
                time.sleep(0.3)

    def stop(self) -> None:
        self.remove_services()
        self.client.close()
