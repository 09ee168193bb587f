"""Child processes we start and must stop: by pid, never by name."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from funcatron_wf.engine.errors import PortInUseError, ServiceStartError


class ManagedProcess:
    """A child process with a name, an optional log file, and a clean stop."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        log_path: Path | None = None,
        stop_signal: int = signal.SIGTERM,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        stdin_pipe: bool = False,
    ) -> None:
        self.name = name
        self.stdin_pipe = stdin_pipe
        self.cwd = cwd
        self.argv = argv
        self.log_path = log_path
        self.stop_signal = stop_signal
        self.env = env
        self._popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._popen is not None, "not started"
        return self._popen.pid

    def start(self) -> ManagedProcess:
        log = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        try:
            # A session of its own: Ctrl-C in the terminal reaches only the
            # parent, which then stops its children in order.
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE if self.stdin_pipe else subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                start_new_session=True,
                env=self.env,
                cwd=self.cwd,
            )
        except OSError as err:
            raise ServiceStartError(f"cannot start {self.name} ({self.argv[0]}): {err}") from err
        finally:
            if log:
                log.close()
        return self

    def again(self) -> ManagedProcess:
        """The same command, not started: what restarts a process that died."""
        return ManagedProcess(
            self.name,
            self.argv,
            log_path=self.log_path,
            stop_signal=self.stop_signal,
            env=self.env,
            cwd=self.cwd,
            stdin_pipe=self.stdin_pipe,
        )

    def send(self, line: str) -> None:
        """One line to the process's stdin (started with ``stdin_pipe``)."""
        assert self._popen is not None and self._popen.stdin is not None, "no stdin pipe"
        self._popen.stdin.write(line.encode() + b"\n")
        self._popen.stdin.flush()

    def exit_code(self) -> int | None:
        return None if self._popen is None else self._popen.poll()

    def log_tail(self, lines: int = 15) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        if self._popen is None or self._popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self._popen.pid, self.stop_signal)
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._popen.pid, signal.SIGKILL)
            self._popen.wait()


def pid_alive(pid: int) -> bool:
    """The process runs (a zombie, exited and not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's: it exists
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"


def wait_until(
    ready: Callable[[], bool], *, process: ManagedProcess, what: str, timeout: float = 30.0
) -> None:
    """Poll ``ready`` until it holds; fail early, with the log's tail, if the process dies."""
    deadline = time.monotonic() + timeout
    while not ready():
        code = process.exit_code()
        if code is not None:
            tail = process.log_tail()
            raise ServiceStartError(
                f"{process.name} exited with code {code} before {what}"
                + (f"; its log ends:\n{tail}" if tail else "")
            )
        if time.monotonic() > deadline:
            raise ServiceStartError(f"{process.name} did not get {what} within {timeout:.0f} s")
        time.sleep(0.05)


def port_accepts(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def any_free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now, for a service this machine starts next."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def require_free_port(host: str, port: int, *, what: str, flag: str) -> None:
    with socket.socket() as probe:
        # SO_REUSEADDR: only a listener makes the port "in use", not TIME_WAIT leftovers.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise PortInUseError(port, what, flag) from err
