"""Running the real `funcatron-wf dev` command as a child process, as a user does."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from funcatron_wf.deploy.processes import pid_alive  # noqa: F401 - the tests' import
from tests.conftest import free_port

FUNCATRON = str(Path(sys.executable).parent / "funcatron-wf")


class DevProcess:
    def __init__(
        self,
        folders: list[Path],
        log_path: Path,
        *,
        external_temporal: list[str] | None = None,
        env: dict[str, str] | None = None,
        extra: list[str] | None = None,
    ) -> None:
        """With ``external_temporal`` (the --temporal flags), no server is embedded."""
        self.port = free_port()
        self.temporal_port = free_port()
        self.temporal_ui_port = free_port()
        self.temporal_http_port = free_port()
        self.log_path = log_path
        argv = [FUNCATRON, "dev", *map(str, folders), "--port", str(self.port), *(extra or [])]
        argv += external_temporal or [
            "--temporal-port", str(self.temporal_port),
            "--temporal-ui-port", str(self.temporal_ui_port),
            "--temporal-http-port", str(self.temporal_http_port),
        ]  # fmt: skip
        with open(log_path, "wb") as log:
            self.popen = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while "ready; Ctrl-C stops everything" not in self.output():
            if self.popen.poll() is not None:
                raise AssertionError(f"dev exited with {self.popen.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"dev not ready in {timeout} s:\n{self.output()}")
            time.sleep(0.1)

    def child_pids(self) -> dict[str, int]:
        return {
            name: int(pid)
            for name, pid in re.findall(r"started ([\w.-]+) \(pid (\d+)\)", self.output())
        }

    def invoke(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`funcatron-wf invoke ARGS` against this stack's Temporal."""
        done = subprocess.run(
            [FUNCATRON, "invoke", *args, "--temporal", self.temporal_address],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        print(f"invoke {args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")  # on failure
        return done

    def interrupt(self, timeout: float = 60.0) -> int:
        """Ctrl-C, as a user would; returns dev's exit code."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise


@contextlib.contextmanager
def running(process: DevProcess) -> Iterator[DevProcess]:
    """Wait for a dev stack to be ready; press Ctrl-C on it afterwards."""
    try:
        process.wait_ready()
        yield process
    finally:
        process.interrupt()
