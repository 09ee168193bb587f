"""Shared fixtures: real services, started here and stopped here by pid."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client
from temporalio.worker import Worker

from funcatron_wf.deploy.processes import ManagedProcess, any_free_port, port_accepts, wait_until
from funcatron_wf.deploy.temporal_dev import dev_server
from funcatron_wf.engine.temporal_client import connect_when_ready
from funcatron_wf.workers.func_folder import FuncFolder
from funcatron_wf.workers.python_host import PythonHost
from funcatron_wf.workers.runner import BodyStore, ServedFunc, runner_workers

REPO = Path(__file__).resolve().parents[1]
# Besides "default": for tests that run a whole stack against the session
# server, so its Registry does not meet the one the in-process tests use.
STACK_NAMESPACE = "funcatron-stack-test"
EXAMPLES = REPO / "examples"


ONE_OPERATION_SPEC = """openapi: 3.0.3
info: {{title: t, version: '1'}}
paths:
  /x:
    get:
      operationId: {operation_id}
      responses: {{'200': {{description: ok}}}}
"""


def write_func_folder(folder: Path, spec: str, code: dict[str, str]) -> Path:
    """A Func folder made by a test: an openapi.yaml and its modules."""
    folder.mkdir(parents=True)
    (folder / "openapi.yaml").write_text(spec)
    for name, text in code.items():
        (folder / name).write_text(text)
    return folder


def problem_document(response: Any) -> dict:
    """The problem+json body of an error reply, checked for what every one carries."""
    assert response.headers["content-type"] == "application/problem+json"
    document = response.json()
    assert document["request_id"] == response.headers["x-request-id"]
    assert document["status"] == response.status_code
    return document


free_port = any_free_port


def eventually(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    """Poll ``check`` until it returns something true (returned), failing
    with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not (seen := check()):
        assert time.monotonic() < deadline, f"not {what} within {timeout:.0f} s"
        time.sleep(0.5)
    return seen


NOBODY = 65534


def run_as_nobody(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Python ``code`` run by an unprivileged user (uid and gid 65534), as a
    non-root container or another user on the host would (the tests run as
    root); ``args`` are its sys.argv[1:]."""
    return subprocess.run(
        ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
         sys.executable, "-c", code, *args],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder another user can reach (pytest's own are private to root)."""
    if os.geteuid() != 0:
        raise PermissionError("these tests give folders to other users: run them as root")
    with tempfile.TemporaryDirectory(prefix="funcatron-shared-") as folder:
        os.chmod(folder, 0o755)
        yield Path(folder)


def start_worker(
    role: str, temporal: TemporalServer, tmp_path: Path, *extra: str
) -> ManagedProcess:
    """A real `funcatron-wf ROLE` process (tron, runner) on the session's server
    in STACK_NAMESPACE, once it says it is ready."""
    ready = tmp_path / f"{role}-{len(list(tmp_path.iterdir()))}.ready"
    process = ManagedProcess(
        role,
        [sys.executable, "-m", "funcatron_wf", role, "--temporal", temporal.address,
         "--namespace", STACK_NAMESPACE, "--ready-file", str(ready), *extra],
    ).start()  # fmt: skip
    wait_until(ready.exists, process=process, what="ready", timeout=60)
    return process


def python_runner(client: Client, folder: FuncFolder, executor: Executor) -> Worker:
    """A Runner worker in this process for one Func folder, as registered by
    ``folder.registration()``."""
    served = ServedFunc(
        folder.registration(), PythonHost.load(folder.path, folder.routes, executor)
    )
    (worker,) = runner_workers(client, [served], BodyStore())
    return worker


class TemporalServer:
    def __init__(self, process: ManagedProcess, port: int, http_port: int) -> None:
        self.process = process
        self.address = f"127.0.0.1:{port}"
        self.http_address = f"127.0.0.1:{http_port}"


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[TemporalServer]:
    """One real Temporal dev server for the tests that need only Temporal."""
    port, ui_port, http_port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="funcatron-test-temporal-") as runtime_dir:
        process = dev_server(
            port=port,
            ui_port=ui_port,
            http_port=http_port,
            runtime_dir=Path(runtime_dir),
            namespace=STACK_NAMESPACE,
        ).start()
        try:
            wait_until(
                lambda: port_accepts("127.0.0.1", port),
                process=process,
                what="listening",
                timeout=60,
            )
            # listening is not serving: its frontend says "not healthy yet" for a while
            asyncio.run(
                connect_when_ready(
                    f"127.0.0.1:{port}",
                    STACK_NAMESPACE,
                    still_starting=lambda: process.exit_code() is None,
                )
            )
            yield TemporalServer(process, port, http_port)
        finally:
            process.stop()


@pytest.fixture
async def temporal_client(temporal_server: TemporalServer) -> AsyncIterator[Client]:
    yield await Client.connect(temporal_server.address)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """The tests' own Docker engine in swarm mode (tests/docker_engine.py)."""
    from tests.docker_engine import EngineUnavailable, docker_engine

    engine = docker_engine(REPO / "build" / "docker-test" / "data")
    try:
        client = engine.__enter__()
    except EngineUnavailable as err:
        pytest.skip(f"no Docker engine can run here: {err}")
    try:
        yield client
    finally:
        engine.__exit__(None, None, None)


@pytest.fixture(scope="session")
def platform_images(docker_client: Any) -> Any:
    """The platform's images, built (or kept) once a session."""
    from funcatron_wf.deploy.images import build_images

    return build_images(docker_client, say=lambda line: print(f"images: {line}", flush=True))
