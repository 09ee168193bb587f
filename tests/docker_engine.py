"""A Docker engine of the tests' own, on this machine's loopback only.

dockerd runs with no bridge and no iptables rules (every container uses the
host's network), its own data root, exec root and socket, and every
registry request sent to a closed loopback port through its proxy
settings: an image missing here fails at once instead of being looked for
on the Internet (Swarm tries a pull before each task starts, then uses the
local image). The swarm it makes advertises 127.0.0.1, and the networks
`swarm init` adds (the ingress overlay and its docker_gwbridge bridge) are
removed, as host-network services need neither. Stopped by its pid.

The data root lives in build/docker-test/ so the images (a debootstrap and
two builds, a few minutes) are kept between local runs; CI starts clean.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from funcatron_wf.deploy.processes import ManagedProcess, any_free_port

CLOSED_PROXY = "http://127.0.0.1:1"


class EngineUnavailable(RuntimeError):
    """dockerd cannot run on this machine (missing, or refused to start)."""


@contextlib.contextmanager
def docker_engine(data_root: Path) -> Iterator[Any]:
    """A started dockerd in swarm mode; yields a docker SDK client for it."""

    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise EngineUnavailable("dockerd is missing (Debian's docker.io; make test installs it)")
    data_root.mkdir(parents=True, exist_ok=True)
    exec_root = Path(tempfile.mkdtemp(prefix="fwd-"))  # short: it holds unix sockets
    socket_file = exec_root / "docker.sock"
    config = exec_root / "daemon.json"
    config.write_text("{}")
    (data_root.parent / "dockerd.log").unlink(missing_ok=True)  # this session's alone
    process = ManagedProcess(
        "dockerd",
        [dockerd, "--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-forward=false",
         # none of the machine's docker settings, nor a system containerd's namespace
         "--config-file", str(config), "--containerd-namespace", "funcatron-test",
         "--containerd-plugins-namespace", "funcatron-test-plugins",
         "--data-root", str(data_root), "--exec-root", str(exec_root / "exec"),
         "--pidfile", str(exec_root / "docker.pid"), "--host", f"unix://{socket_file}"],
        log_path=data_root.parent / "dockerd.log",
        env={**os.environ, "HTTP_PROXY": CLOSED_PROXY, "HTTPS_PROXY": CLOSED_PROXY, "NO_PROXY": ""},
    )  # fmt: skip
    process.start()
    try:
        client = _wait_for(socket_file, process)
        _swarm(client)
        os.environ["DOCKER_HOST"] = f"unix://{socket_file}"  # for the code under test
        try:
            yield client
        finally:
            os.environ.pop("DOCKER_HOST", None)
            _clean(client)
            client.swarm.leave(force=True)
            client.close()
    finally:
        process.stop()
        shutil.rmtree(exec_root, ignore_errors=True)


def _accepts(socket_path: Path) -> bool:
    """Whether dockerd listens (the SDK leaks the socket of a refused connect)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(socket_path))
        except OSError:
            return False
    return True


def _wait_for(socket_path: Path, process: ManagedProcess, timeout: float = 60.0) -> Any:
    """A client, once dockerd answers."""
    import docker

    deadline = time.monotonic() + timeout
    while not _accepts(socket_path):
        if process.exit_code() is not None or time.monotonic() > deadline:
            log = process.log_path.read_text(errors="replace") if process.log_path else ""
            raise EngineUnavailable(f"dockerd did not start:\n{log[-1500:]}")
        time.sleep(0.2)
    return docker.DockerClient(base_url=f"unix://{socket_path}", timeout=300)


def _swarm(client: Any) -> None:
    import docker

    if client.info().get("Swarm", {}).get("LocalNodeState") == "active":
        client.swarm.leave(force=True)  # what an interrupted run left
    _clean(client)
    port = any_free_port()
    client.swarm.init(advertise_addr="127.0.0.1", listen_addr=f"127.0.0.1:{port}")
    for name in ("ingress", "docker_gwbridge"):  # the bridge once the ingress has let go of it
        deadline = time.monotonic() + 30
        while client.networks.list(names=[name]):
            try:
                for network in client.networks.list(names=[name]):
                    network.remove()
            except docker.errors.APIError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def _clean(client: Any) -> None:
    """Services and containers a test (or an interrupted run) left; Swarm
    may be removing a container at the same moment."""
    import docker

    if client.info().get("Swarm", {}).get("LocalNodeState") == "active":
        for service in client.services.list():
            service.remove()
    for container in client.containers.list(all=True):
        with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
            container.remove(force=True)
