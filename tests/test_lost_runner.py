"""A Runner that dies mid-call loses nothing: Temporal notices the missing
heartbeats and the task runs again on another Runner. Real Tron and Runner
processes on the session's Temporal server; the request goes in through
Temporal (no HTTP needed for this)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from temporalio.client import Client

from funcatron_wf.deploy.processes import ManagedProcess
from funcatron_wf.engine.contracts import FuncSettings
from funcatron_wf.engine.invoking import build_request
from funcatron_wf.engine.registry_client import register_func
from funcatron_wf.engine.starting import start_request
from funcatron_wf.workers.func_folder import FuncFolder
from tests.conftest import REPO, STACK_NAMESPACE, TemporalServer, start_worker

CONTRACT = REPO / "tests" / "funcs" / "contract"
STATE = Path("/tmp/funcatron-contract-state")


HEARTBEAT_TIMEOUT = 1.0  # the Func's setting; the platform's default is 5 s


async def test_a_lost_runners_task_is_retried_on_another_runner(
    temporal_server: TemporalServer, tmp_path: Path
) -> None:
    """...as attempt 2, once the Func's heartbeat timeout (a setting) passes."""
    processes: list[ManagedProcess] = []
    try:
        processes.append(start_worker("tron", temporal_server, tmp_path))
        client = await Client.connect(temporal_server.address, namespace=STACK_NAMESPACE)
        settings = FuncSettings(heartbeat_timeout=HEARTBEAT_TIMEOUT)
        await register_func(client, FuncFolder.load(CONTRACT).registration(settings))
        runners = [
            start_worker("runner", temporal_server, tmp_path, str(CONTRACT)) for _ in range(2)
        ]
        processes += runners

        request = build_request("GET", "/c/pid?seconds=2", host="contract.local")
        request_started = await start_request(client, request)
        deadline = time.monotonic() + 30
        while not (started := list(STATE.glob(f"pid-{request.request_id}-*"))):
            assert time.monotonic() < deadline, "no Runner took the task"
            time.sleep(0.05)
        first_pid = int(started[0].name.rsplit("-", 1)[1])
        os.kill(first_pid, signal.SIGKILL)  # the Runner dies mid-call
        killed_at = time.monotonic()

        response = await request_started.response()
        answered_after = time.monotonic() - killed_at
        assert response.status == 200
        survivor = next(runner.pid for runner in runners if runner.pid != first_pid)
        assert response.body is not None
        assert json.loads(response.body.data) == {"pid": survivor, "attempt": 2}
        # the retry came after about one heartbeat timeout, then the call's 2 s
        # (the 5 s default would take 7 s or more)
        assert answered_after < HEARTBEAT_TIMEOUT + 2 + 2.5, answered_after
    finally:
        for process in reversed(processes):
            process.stop()
