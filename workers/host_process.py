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
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from funcatron_wf.engine.contracts import Body, ResponseEnvelope, problem_response
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


class HostProcess:
    """One Func version's host process. ``argv``/``env``/``cwd`` start it;
    ``language`` names it in what is logged and raised."""

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
        self._process: asyncio.subprocess.Process | None = None
        self._pending: dict[int, tuple[asyncio.Future[HostReply], HostCall]] = {}
        self._next_id = 0
        self._starting = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def operation_ids(self) -> Collection[str]:
        return self._operation_ids

    # --- the process ----------------------------------------------------------

    async def start(self) -> None:
        """Start the host and wait for it to load the Func; its problems
        (an operation whose code does not load) are a FuncFolderError,
        unless ``broken_ok`` (those operations then answer 500 saying why)."""
        async with self._starting:
            if self._process is not None and self._process.returncode is None:
                return
            ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
            read_end, write_end = os.pipe()
            try:
                process = await asyncio.create_subprocess_exec(
                    *self.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE, pass_fds=(write_end,),
                    env={**(self.env or os.environ), ANSWERS_FD: str(write_end)},
                    cwd=self.folder, limit=LINE_LIMIT,
                )  # fmt: skip
            except OSError as err:
                os.close(read_end)
                raise HostLost(f"the {self.language} host could not start: {err}") from err
            finally:
                os.close(write_end)
            answers = asyncio.StreamReader(limit=LINE_LIMIT)
            await asyncio.get_running_loop().connect_read_pipe(
                lambda: asyncio.StreamReaderProtocol(answers), os.fdopen(read_end, "rb")
            )
            self._process = process
            self._spawn(self._read_answers(process, answers, ready))
            assert process.stdout is not None and process.stderr is not None
            self._spawn(self._forward_output(process.stdout, logging.INFO))
            self._spawn(self._forward_output(process.stderr, logging.WARNING))
            try:
                said = await asyncio.wait_for(ready, START_TIMEOUT)
            except (TimeoutError, HostLost) as err:
                await self._kill(process)
                raise HostLost(
                    f"the {self.language} host did not load {self.folder}: {err}"
                ) from err
            logger.info("%s host (pid %d) serves %s", self.language, process.pid, self.folder)
            problems = said.get("problems") or []
            if problems and not self.broken_ok:
                await self.close()
                raise load_problems(self.folder, problems)
            for problem in problems:
                logger.error("operationId %r: %s", problem["operation"], problem["problem"])

    def _spawn(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read_answers(
        self, process: asyncio.subprocess.Process, answers: asyncio.StreamReader,
        ready: asyncio.Future[dict[str, Any]],
    ) -> None:  # fmt: skip
        try:
            while line := await answers.readline():
                message = json.loads(line)
                if message.get("type") == "ready":
                    if not ready.done():
                        ready.set_result(message)
                else:
                    self._answered(message)
        except (ValueError, asyncio.LimitOverrunError) as err:
            logger.error("the %s host broke the protocol: %s", self.language, err)
            await self._kill(process)
        code = await process.wait()
        lost = HostLost(f"the {self.language} host exited (code {code})")
        if not ready.done():
            ready.set_exception(lost)
        for future, _ in self._pending.values():
            if not future.done():
                future.set_exception(lost)
        self._pending.clear()
        if not self._closed and self._process is process:
            logger.warning("%s; starting it again", lost)
            self._spawn(self._restart())

    async def _restart(self) -> None:
        try:
            await self.start()
        except Exception as err:  # the next call tries again
            logger.error("%s", err)

    async def _forward_output(self, stream: asyncio.StreamReader, level: int) -> None:
        """The host's own stdout and stderr (a Func writing to them directly)."""
        while line := await stream.readline():
            func_logger.log(level, "%s", line.decode(errors="replace").rstrip())

    @staticmethod
    async def _kill(process: asyncio.subprocess.Process) -> None:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()

    async def close(self) -> None:
        self._closed = True
        if self._process is not None:
            if self._process.stdin is not None:
                self._process.stdin.close()  # the host exits when its input ends
            try:
                await asyncio.wait_for(self._process.wait(), 5)
            except TimeoutError:
                await self._kill(self._process)
        for task in list(self._tasks):
            task.cancel()

    # --- calls ----------------------------------------------------------------

    def _answered(self, message: dict[str, Any]) -> None:
        kind, call_id = message.get("type"), message.get("id")
        if kind == "log":
            self._log(message)
            return
        entry = self._pending.pop(call_id, None) if isinstance(call_id, int) else None
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
        kind = message["type"]
        if kind == "reply":
            return HostReply(response_of(message["response"], request.request_id))
        if kind == "bad_request":
            answer = problem_response(request.request_id, 400, "Bad Request", message["detail"])
            return HostReply(answer, from_func=False)
        if kind == "http_error":
            status = int(message["status"])
            if not 400 <= status <= 599:
                raise FuncRaised(
                    f"{host_call.call.func.operation} threw an HTTPError with status {status} "
                    "(4xx or 5xx only)", "",
                )  # fmt: skip
            error = HTTPError(status, message.get("detail"), title=message.get("title"),
                              headers=message.get("headers"))  # fmt: skip
            answer = http_error_response(error, request)
            if message.get("stack") and host_call.call.settings.dev_mode:
                answer = problem_response(
                    request.request_id, status, error.title, error.detail,
                    extra={"traceback": message["stack"]},
                )  # fmt: skip
            return HostReply(answer, from_func=False)
        if kind == "raised":
            raise FuncRaised(message["detail"], message.get("stack") or "")
        raise HostLost(f"the {self.language} host answered {kind!r}, not a reply")

    def _log(self, message: dict[str, Any]) -> None:
        level = LEVELS.get(message.get("level", "info"), logging.INFO)
        entry = self._pending.get(message.get("id"))  # type: ignore[arg-type]
        if entry is None:
            func_logger.log(level, "%s", message.get("message", ""))
            return
        call = entry[1].call
        with request_context(call.request.request_id, call.func, call.settings.log_level):
            func_logger.log(level, "%s", message.get("message", ""))

    async def call(self, call: HostCall) -> HostReply:
        if self._process is None or self._process.returncode is not None:
            await self.start()
        process = self._process
        assert process is not None and process.stdin is not None
        self._next_id += 1
        call_id = self._next_id
        future: asyncio.Future[HostReply] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = (future, call)
        line = json.dumps(call_message(call_id, call), default=str) + "\n"
        try:
            process.stdin.write(line.encode())
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as err:
            self._pending.pop(call_id, None)
            raise HostLost(f"the {self.language} host is gone: {err}") from err
        try:
            return await future
        except asyncio.CancelledError:
            # its time ran out (or the Runner stops): its code may never
            # return, and only the process's end stops it; the calls it
            # held are retried elsewhere, as a lost Runner's are
            if self._pending.pop(call_id, None) is not None and not self._closed:
                logger.warning(
                    "%s was cancelled: stopping the %s host (pid %d)",
                    call.call.func.operation, self.language, process.pid,
                )  # fmt: skip
                await self._kill(process)
            raise
