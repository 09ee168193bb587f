"""A language host in a process of its own, spoken to over the host
protocol (docs/host-protocol.md): JSON lines, calls on the host's stdin,
answers on a pipe whose descriptor FUNCATRON_HOST_FD names, each carrying the call's id so many are in flight at
once. The host's stdout and stderr are the Func's own output: log lines.

What is not language-specific stays here, once for every such host: the
process's start and supervision (a host that dies fails its calls with
HostLost, which Temporal retries, and is started again), a call cancelled
at its timeout killing the host (its code may spin forever), the problem
documents, and the log lines with their request's id. The Node host
(workers/node_host.py) and the JVM host only say how to start their process.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import logging
import os
import select
import signal
import subprocess
import time
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from funcatron_wf.engine.contracts import Body, ResponseEnvelope, Route, problem_response
from funcatron_wf.engine.errors import FuncFolderError
from funcatron_wf.engine.responses import HTTPError
from funcatron_wf.workers.hosts import FuncRaised, HostCall, HostLost, HostReply
from funcatron_wf.workers.log_context import request_context
from funcatron_wf.workers.python_calling import http_error_response

logger = logging.getLogger(__name__)
func_logger = logging.getLogger("func.host")
START_TIMEOUT = 30.0  # seconds for a host to load its Func and say "ready"
LINE_LIMIT = 256 * 1024 * 1024  # one message; bodies above the inline limit travel as refs
ANSWERS_FD = "FUNCATRON_HOST_FD"  # the host's answers go to this file descriptor
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
          "error": logging.ERROR}  # fmt: skip


def call_message(call_id: int, host_call: HostCall) -> dict[str, Any]:
    """A call as the host reads it: the operation, its parameters by name,
    the body (raw, to be read as its kind says), the request envelope."""
    call = host_call.call
    body: dict[str, Any] | None = None
    if call.form_body is not None:
        body = {"kind": "form", "value": call.form_body}
    elif host_call.body is not None:
        if host_call.body_kind == "bytes":
            body = {"kind": "bytes", "base64": base64.b64encode(host_call.body).decode()}
        else:
            body = {"kind": host_call.body_kind, "text": host_call.body.decode(errors="replace")}
    return {
        "type": "call", "id": call_id, "operation": call.func.operation,
        "parameters": call.parameters, "body": body,
        "request": dataclasses.asdict(call.request), "text_as_json": host_call.text_as_json,
    }  # fmt: skip


def response_of(reply: dict[str, Any], request_id: str) -> ResponseEnvelope:
    """A host's reply (status, headers, a body of a kind) as an envelope."""
    status = int(reply.get("status", 200))
    headers = {str(k).lower(): str(v) for k, v in (reply.get("headers") or {}).items()}
    body = reply.get("body")
    if body is None:
        return ResponseEnvelope(204 if status == 200 else status, request_id, headers)
    if body["kind"] == "json":
        encoded, media_type = Body.from_json(body["value"]), "application/json"
    elif body["kind"] == "text":
        encoded, media_type = Body.from_text(body["text"]), "text/plain; charset=utf-8"
    else:
        encoded = Body.from_bytes(base64.b64decode(body["base64"]))
        media_type = "application/octet-stream"
    headers.setdefault("content-type", media_type)
    return ResponseEnvelope(status, request_id, headers, encoded)


def load_problems(folder: Path, problems: list[dict[str, str]]) -> FuncFolderError:
    """What a host's "ready" said of the operations whose code does not load."""
    return FuncFolderError(
        str(folder),
        "; ".join(f"operationId {p['operation']!r}: {p['problem']}" for p in problems),
        operation_id=problems[0]["operation"],
    )


def code_operations(routes: Iterable[Route]) -> dict[str, str]:
    """What a host loads: each operationId no chain serves -> what it names
    in the code (the operationId, or module.operationId when the spec names
    a module with x-openapi-router-controller or x-funcatron-module)."""
    return {
        route.operation_id: route.handler or route.operation_id
        for route in routes
        if route.chain is None
    }


def check_folder(
    language: str, folder: Path, argv: Sequence[str], env: dict[str, str] | None = None
) -> None:
    """Run a host with ``--check`` (it loads the operations, says "ready",
    exits): a FuncFolderError naming each operation whose code does not load
    (`dev`, `deploy` and `bundle` refuse such a Func). Its answer comes on
    the protocol's pipe, whatever the Func's code prints while it loads."""
    read_end, write_end = os.pipe()
    try:
        process = subprocess.Popen(
            [*argv, "--check"], env={**(env or os.environ), ANSWERS_FD: str(write_end)},
            cwd=folder, pass_fds=(write_end,), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as answers:
        try:
            said, errors = _read_until_exit(process, answers)
        finally:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            if process.stderr is not None:
                process.stderr.close()
    ready = None
    for line in said.splitlines():
        with contextlib.suppress(ValueError):
            message = json.loads(line)
            if isinstance(message, dict) and message.get("type") == "ready":
                ready = message
    if ready is None:
        why = errors.strip() or f"exit code {process.returncode}"
        raise FuncFolderError(str(folder), f"the {language} host could not load it: {why[-2000:]}")
    if ready.get("problems"):
        raise load_problems(folder, ready["problems"])


def _read_until_exit(process: subprocess.Popen[bytes], answers: Any) -> tuple[str, str]:
    """The host's answers and stderr, once it ends (or START_TIMEOUT passes)."""
    assert process.stderr is not None
    deadline = time.monotonic() + START_TIMEOUT
    chunks: dict[Any, list[bytes]] = {answers: [], process.stderr: []}
    open_streams = list(chunks)
    while open_streams and time.monotonic() < deadline:
        readable, _, _ = select.select(open_streams, [], [], deadline - time.monotonic())
        for stream in readable:
            data = os.read(stream.fileno(), 65536)
            if data:
                chunks[stream].append(data)
            else:
                open_streams.remove(stream)
    return (
        b"".join(chunks[answers]).decode(errors="replace"),
        b"".join(chunks[process.stderr]).decode(errors="replace"),
    )


@dataclass
class _Running:
    """One start of a host: its process, whether it said "ready", and the
    calls it holds (a process's calls fail with it, not with the next one)."""

    process: asyncio.subprocess.Process
    ready: asyncio.Future[dict[str, Any]]
    pending: dict[int, tuple[asyncio.Future[HostReply], HostCall]] = field(default_factory=dict)


class HostProcess:
    """One Func version's host process. ``argv``/``env``/``cwd`` start it;
    ``language`` names it in what is logged and raised. A host that died is
    started again by the next call (a retried one, usually)."""

    def __init__(
        self, language: str, folder: Path, argv: Sequence[str], *,
        operation_ids: Collection[str], env: dict[str, str] | None = None,
        broken_ok: bool = False,
    ) -> None:  # fmt: skip
        self.language = language
        self.folder = folder
        self.argv = list(argv)
        self.env = env
        self.broken_ok = broken_ok
        self._operation_ids = list(operation_ids)
        self._running: _Running | None = None
        self._next_id = 0
        self._starting = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def operation_ids(self) -> Collection[str]:
        return self._operation_ids

    @property
    def pid(self) -> int | None:
        running = self._running
        return running.process.pid if running and running.process.returncode is None else None

    # --- the process ----------------------------------------------------------

    async def start(self) -> None:
        """Start the host and wait for it to load the Func; its problems
        (an operation whose code does not load) are a FuncFolderError,
        unless ``broken_ok`` (those operations then answer 500 saying why)."""
        async with self._starting:
            if self._closed:
                raise HostLost(f"the {self.language} host of {self.folder} is closed")
            if self._running is not None and self._running.process.returncode is None:
                return
            loop = asyncio.get_running_loop()
            read_end, write_end = os.pipe()
            try:
                process = await asyncio.create_subprocess_exec(
                    *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE, pass_fds=(write_end,),
                    env={**(self.env or os.environ), ANSWERS_FD: str(write_end)},
                    cwd=self.folder, limit=LINE_LIMIT,
                    # its own process group: what its code starts dies with it
                    start_new_session=True,
                )  # fmt: skip
            except OSError as err:
                os.close(read_end)
                raise HostLost(f"the {self.language} host could not start: {err}") from err
            finally:
                os.close(write_end)
            answers = asyncio.StreamReader(limit=LINE_LIMIT)
            await loop.connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(answers), os.fdopen(read_end, "rb")
            )
            running = _Running(process, loop.create_future())
            self._running = running
            self._spawn(self._read_answers(running, answers))
            assert process.stdout is not None and process.stderr is not None
            self._spawn(self._forward_output(process.stdout, logging.INFO))
            self._spawn(self._forward_output(process.stderr, logging.WARNING))
            try:
                said = await asyncio.wait_for(asyncio.shield(running.ready), START_TIMEOUT)
            except (TimeoutError, HostLost) as err:
                await _kill(process)
                raise HostLost(
                    f"the {self.language} host did not load {self.folder}: {err}"
                ) from err
            except asyncio.CancelledError:
                await _kill(process)
                raise
            problems = said.get("problems") or []
            if problems and not self.broken_ok:
                await _kill(process)
                raise load_problems(self.folder, problems)
            for problem in problems:
                logger.error("operationId %r: %s", problem["operation"], problem["problem"])
            logger.info("%s host (pid %d) serves %s", self.language, process.pid, self.folder)

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_answers(self, running: _Running, answers: asyncio.StreamReader) -> None:
        """Until the host's answers end; then its calls fail as host lost.
        Anything that is not the protocol ends the host: it is not trusted
        with more calls."""
        try:
            while line := await answers.readline():
                message = json.loads(line)
                if not isinstance(message, dict):
                    raise ValueError(f"not a JSON object: {line[:200]!r}")
                if message.get("type") == "ready":
                    if not running.ready.done():
                        running.ready.set_result(message)
                else:
                    self._answered(running, message)
        except asyncio.CancelledError:
            raise
        except Exception as err:
            logger.error("the %s host broke the protocol: %s", self.language, err)
        await _kill(running.process)
        lost = HostLost(f"the {self.language} host exited (code {running.process.returncode})")
        if not running.ready.done():
            running.ready.set_exception(lost)
        _fail(running, lost)
        if not self._closed and running.ready.exception() is None:
            logger.warning("%s; the next call starts it again", lost)

    async def _forward_output(self, stream: asyncio.StreamReader, level: int) -> None:
        """The host's own stdout and stderr (a Func writing to them directly)."""
        while line := await stream.readline():
            func_logger.log(level, "%s", line.decode(errors="replace").rstrip())

    async def close(self) -> None:
        """Stop taking calls; the host ends when its input does (killed if it
        does not within 5 s); calls it still held fail as host lost."""
        self._closed = True
        running = self._running
        if running is not None:
            if running.process.stdin is not None:
                running.process.stdin.close()
            try:
                await asyncio.wait_for(running.process.wait(), 5)
            except TimeoutError:
                await _kill(running.process)
            _fail(running, HostLost(f"the {self.language} host was closed"))
        for task in list(self._tasks):
            task.cancel()

    # --- calls ----------------------------------------------------------------

    def _answered(self, running: _Running, message: dict[str, Any]) -> None:
        kind, call_id = message.get("type"), message.get("id")
        if kind == "log":
            self._log(running, message)
            return
        entry = running.pending.pop(call_id, None) if isinstance(call_id, int) else None
        if entry is None:
            logger.warning("the %s host answered no call: %s", self.language, str(message)[:200])
            return
        future, host_call = entry
        if not future.done():
            try:
                future.set_result(self._reply(message, host_call))
            except Exception as err:  # a reply the Runner cannot read is the Func's failure
                future.set_exception(err)

    def _reply(self, message: dict[str, Any], host_call: HostCall) -> HostReply:
        request = host_call.call.request
        operation = host_call.call.func.operation
        kind = message["type"]
        if kind == "reply":
            return HostReply(response_of(message["response"], request.request_id))
        if kind == "bad_request":
            answer = problem_response(request.request_id, 400, "Bad Request", message["detail"])
            return HostReply(answer, from_func=False)
        if kind == "http_error":
            try:
                error = HTTPError(
                    int(message["status"]), message.get("detail") or None,
                    title=message.get("title"), headers=message.get("headers"),
                )  # fmt: skip
            except ValueError as err:  # a status that is not an HTTP error's
                raise FuncRaised(f"{operation} threw an HTTPError: {err}", "") from err
            answer = http_error_response(error, request)
            if message.get("stack") and host_call.call.settings.dev_mode:
                answer = problem_response(
                    request.request_id, error.status, error.title, error.detail,
                    extra={"traceback": message["stack"]},
                )  # fmt: skip
            return HostReply(answer, from_func=False)
        if kind == "raised":
            raise FuncRaised(str(message.get("detail")), str(message.get("stack") or ""))
        raise HostLost(f"the {self.language} host answered {kind!r}, not a reply")

    def _log(self, running: _Running, message: dict[str, Any]) -> None:
        level = LEVELS.get(str(message.get("level", "info")), logging.INFO)
        call_id = message.get("id")
        entry = running.pending.get(call_id) if isinstance(call_id, int) else None
        if entry is None:
            func_logger.log(level, "%s", message.get("message", ""))
            return
        call = entry[1].call
        with request_context(call.request.request_id, call.func, call.settings.log_level):
            func_logger.log(level, "%s", message.get("message", ""))

    async def call(self, call: HostCall) -> HostReply:
        running = self._running
        if running is None or running.process.returncode is not None:
            await self.start()
            running = self._running
        assert running is not None and running.process.stdin is not None
        self._next_id += 1
        call_id = self._next_id
        future: asyncio.Future[HostReply] = asyncio.get_running_loop().create_future()
        running.pending[call_id] = (future, call)
        try:
            line = json.dumps(call_message(call_id, call), default=str, allow_nan=False) + "\n"
        except ValueError as err:  # NaN or Infinity: no JSON for it, in any language
            running.pending.pop(call_id, None)
            answer = problem_response(
                call.call.request.request_id, 400, "Bad Request", f"a value is not JSON: {err}"
            )
            return HostReply(answer, from_func=False)
        try:
            running.process.stdin.write(line.encode())
            await running.process.stdin.drain()
            return await future
        except (BrokenPipeError, ConnectionResetError) as err:
            raise HostLost(f"the {self.language} host is gone: {err}") from err
        except asyncio.CancelledError:
            # its time ran out (or the Runner stops): its code may never
            # return, and only the process's end stops it; the calls it
            # held are retried elsewhere, as a lost Runner's are
            if call_id in running.pending and not self._closed:
                logger.warning(
                    "%s was cancelled: stopping the %s host (pid %d)",
                    call.call.func.operation, self.language, running.process.pid,
                )  # fmt: skip
                await _kill(running.process)
            raise
        finally:
            running.pending.pop(call_id, None)


def _fail(running: _Running, lost: HostLost) -> None:
    for future, _ in running.pending.values():
        if not future.done():
            future.set_exception(lost)
    running.pending.clear()


async def _kill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL to the host's process group (what its code started too), then
    wait for it, a while at most: a grandchild that left the group may keep
    its pipes open."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), 5)
