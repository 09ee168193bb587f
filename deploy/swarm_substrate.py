"""The `swarm` substrate: each pool is one Docker Swarm service of Runner
containers (`funcatron-wf runner --bundle SHA`, the platform's image for
every Func), labelled with the Func's name, version and task queue. Swarm
keeps each service at its size (a container that dies is replaced, and
Temporal retries what it held on another replica); a service removed or
scaled down sends SIGTERM, so its Runners stop polling and finish what they
hold within the stop grace period; a pool whose concurrency changes is
updated, Swarm replacing its Runners one at a time. The Trons beyond the
platform's first (which has the front door, on the host's network: one
per node) are one more service, `<platform>-trons`. Through the docker
SDK, not the CLI.

Every container uses the host's network and sees the bundle store and the
blob store at the same paths as the host, so a Runner's settings are the
ones a local Runner gets. None runs as root: each runs as the user running
`up` (whose state directory it writes), or as the images' own unprivileged
user when `up` runs as root, with a read-only root filesystem, a tmpfs
/tmp and no capabilities.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from funcatron_wf.deploy.substrate import TRON_STOP_GRACE, Pool, runner_args
from funcatron_wf.engine.contracts import DEFAULT_CALL_CONCURRENCY
from funcatron_wf.engine.errors import ConfigError

LABEL = "funcatron"  # the labels' prefix: funcatron.platform, funcatron.role, funcatron.func, ...
SECOND = 1_000_000_000  # the Docker API counts durations in nanoseconds
READY_FILE = "/tmp/funcatron.ready"
IMAGE_USER = 10001  # the images' own user (deploy/images/platform.Dockerfile)


def service_user() -> tuple[int, int]:
    """The uid and gid the platform's containers run as: the user running
    `up`, unless that is root; then the images' own user."""
    if os.getuid() != 0:
        return os.getuid(), os.getgid()
    return IMAGE_USER, IMAGE_USER


def writable_by_services(folder: Path) -> None:
    """The folder and what it holds (an earlier run's files), made if missing
    and owned by the services' user: root running `up` gives them away;
    anyone else must own them already."""
    folder.mkdir(parents=True, exist_ok=True)
    uid, gid = service_user()
    for path in (folder, *folder.iterdir()):
        owner = path.lstat().st_uid
        if owner == uid:
            continue
        try:
            os.chown(path, uid, gid, follow_symlinks=False)
        except PermissionError as err:
            raise ConfigError(
                f"the platform's containers run as uid {uid} and must write {path}, owned by "
                f"uid {owner}: run `up` as its owner, or `chown -R {uid}:{gid} {folder}`"
            ) from err


def lowest_port_for_users() -> int:
    """The lowest port a process without privileges may listen on, on this
    host's network (the services use it)."""
    setting = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    return int(setting.read_text()) if setting.exists() else 1024


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the platform: its name, what it runs, and what it sees."""

    name: str
    image: str
    args: list[str]
    labels: dict[str, str]
    replicas: int = 1
    binds: list[tuple[Path, bool]] = field(default_factory=list)  # (host path, writable)
    command: list[str] | None = None  # instead of the image's entrypoint
    ready_file: bool = True  # healthy once the worker wrote --ready-file
    env: list[str] = field(default_factory=list)
    # seconds from SIGTERM (the worker drains) to SIGKILL; a Runner's: its pool's
    stop_grace: float = TRON_STOP_GRACE


def container_args(spec: ServiceSpec) -> list[str]:
    return [*spec.args, *(["--ready-file", READY_FILE] if spec.ready_file else [])]


def create_service(client: Any, spec: ServiceSpec) -> Any:
    """The service, created with host networking, a restart policy and a
    health check. Its image is given by ID: Swarm tries a registry pull
    before every task start for an image named by tag, never for an ID."""
    from docker.types import Healthcheck, Mount, RestartPolicy, ServiceMode, UpdateConfig

    health = (
        Healthcheck(
            test=["CMD", "test", "-f", READY_FILE],
            interval=1 * SECOND,
            timeout=1 * SECOND,
            retries=3,
            start_period=60 * SECOND,
        )
        if spec.ready_file
        else None
    )
    image_id = client.images.get(spec.image).id
    uid, gid = service_user()
    return client.services.create(
        image_id,
        command=spec.command,
        args=container_args(spec),
        name=spec.name,
        user=f"{uid}:{gid}",
        read_only=True,  # what a service writes: the binds below and its /tmp
        cap_drop=["ALL"],
        labels={**spec.labels, f"{LABEL}.image": spec.image},
        container_labels=spec.labels,
        env=spec.env,
        mode=ServiceMode("replicated", replicas=spec.replicas),
        networks=["host"],
        mounts=[
            Mount(target=str(path), source=str(path), type="bind", read_only=not writable)
            for path, writable in spec.binds
        ]
        + [Mount(target="/tmp", source=None, type="tmpfs", tmpfs_mode=0o1777)],
        healthcheck=health,
        stop_grace_period=int(spec.stop_grace * SECOND),
        stop_signal="SIGTERM",
        init=True,
        restart_policy=RestartPolicy(condition="any", delay=1 * SECOND),
        # a new Func version is a new service; an update of a service (its
        # image, say) replaces one task at a time
        update_config=UpdateConfig(parallelism=1, order="stop-first"),
    )


@dataclass
class RunnerSettings:
    """What every Runner container is started with."""

    image: str
    platform: str  # the platform's id: its services' label
    temporal: str
    namespace: str
    bundle_store: Path
    blob_dir: Path
    env: list[str] = field(default_factory=list)
    binds: list[tuple[Path, bool]] = field(default_factory=list)  # more (TLS files)


class SwarmSubstrate:
    def __init__(self, client: Any, runners: RunnerSettings) -> None:
        self.client = client
        self.runners = runners

    def _name(self, func: str, sha: str) -> str:
        # Swarm's names stop at 63 characters: 18 + 3 + 24 + 1 + 12
        return f"{self.runners.platform}-r-{func[:24]}-{sha[:12]}"

    def _services(self) -> list[Any]:
        labels = [f"{LABEL}.platform={self.runners.platform}", f"{LABEL}.role=runner"]
        return list(self.client.services.list(filters={"label": labels}))

    def _worker_args(self) -> list[str]:
        runners = self.runners
        return ["--bundle-store", str(runners.bundle_store), "--temporal", runners.temporal,
                "--namespace", runners.namespace, "--blob-dir", str(runners.blob_dir)]  # fmt: skip

    def _spec(self, pool: Pool) -> ServiceSpec:
        runners = self.runners
        return ServiceSpec(
            name=self._name(pool.func, pool.sha),
            image=runners.image,
            args=["runner", *runner_args(pool), *self._worker_args()],
            labels={
                f"{LABEL}.platform": runners.platform, f"{LABEL}.role": "runner",
                f"{LABEL}.func": pool.func, f"{LABEL}.sha": pool.sha,
                f"{LABEL}.version": pool.sha[:12],
                f"{LABEL}.task_queue": pool.task_queue,
                f"{LABEL}.concurrency": str(pool.concurrency),
            },
            replicas=pool.replicas,
            # read-only: a Func must not change another version's bundle; `deploy`
            # unpacks each on this node (the Swarm platform's only one)
            binds=[(runners.bundle_store, False), (runners.blob_dir, True), *runners.binds],
            env=runners.env,
            stop_grace=pool.stop_grace,
        )  # fmt: skip

    async def apply(self, pool: Pool) -> None:
        def apply_now() -> None:
            name = self._name(pool.func, pool.sha)
            existing = [service for service in self._services() if service.name == name]
            if not existing:
                create_service(self.client, self._spec(pool))
            elif _concurrency(existing[0]) != pool.concurrency:
                from docker.types import ServiceMode

                spec = self._spec(pool)  # its size too: one update, one rollout
                existing[0].update(
                    args=container_args(spec),
                    labels={**existing[0].attrs["Spec"]["Labels"], **spec.labels},
                    container_labels=spec.labels,
                    mode=ServiceMode("replicated", pool.replicas),
                    fetch_current_spec=True,
                )
            elif _replicas(existing[0]) != pool.replicas:
                existing[0].scale(pool.replicas)

        await asyncio.to_thread(apply_now)

    async def remove(self, func: str, sha: str) -> None:
        def remove_now() -> None:
            for service in self._services():
                if service.name == self._name(func, sha):
                    service.remove()  # its tasks get SIGTERM: they drain, then exit

        await asyncio.to_thread(remove_now)

    async def pools(self) -> list[Pool]:
        def listed() -> list[Pool]:
            pools = []
            for service in self._services():
                labels = service.attrs["Spec"]["Labels"]
                pools.append(
                    Pool(
                        labels[f"{LABEL}.func"],
                        labels[f"{LABEL}.sha"],
                        labels[f"{LABEL}.task_queue"],
                        _replicas(service),
                        _concurrency(service),
                    )  # fmt: skip
                )
            return pools

        return await asyncio.to_thread(listed)

    def _more_trons(self) -> Any | None:
        name = f"{self.runners.platform}-trons"
        labels = [f"{LABEL}.platform={self.runners.platform}", f"{LABEL}.role=tron"]
        found = self.client.services.list(filters={"label": labels, "name": name})
        return next((service for service in found if service.name == name), None)

    async def trons(self) -> int:
        service = await asyncio.to_thread(self._more_trons)
        return 1 + (_replicas(service) if service is not None else 0)

    async def size_trons(self, replicas: int) -> None:
        def size_now() -> None:
            service = self._more_trons()
            if service is not None:
                service.scale(replicas - 1)
            elif replicas > 1:
                runners = self.runners
                create_service(
                    self.client,
                    ServiceSpec(
                        name=f"{runners.platform}-trons",
                        image=runners.image,
                        args=["tron", *self._worker_args()],
                        labels={f"{LABEL}.platform": runners.platform, f"{LABEL}.role": "tron"},
                        replicas=replicas - 1,
                        binds=[(runners.bundle_store, False), (runners.blob_dir, True),
                               *runners.binds],
                        env=runners.env,
                    ),
                )  # fmt: skip

        await asyncio.to_thread(size_now)


def _concurrency(service: Any) -> int:
    labels = service.attrs["Spec"]["Labels"]
    return int(labels.get(f"{LABEL}.concurrency", DEFAULT_CALL_CONCURRENCY))


def _replicas(service: Any) -> int:
    """The size Swarm keeps the service at (its tasks may still be starting)."""
    return int(service.attrs["Spec"]["Mode"]["Replicated"]["Replicas"])
