"""Which request a log line is about, without the code that logs saying so.

The Runner sets the call's context around each call (``request_context``);
the Python host copies context variables into the threads that run sync
Funcs, so a Func's own ``logging`` calls, and its prints (``sys.stdout`` and
``sys.stderr`` become loggers during a call), carry its request too. In a
Tron, the workflows' own log lines carry their workflow id, which is the
request id. ``RequestContextFilter``, on the process's log handler, writes
it into every record; lines are JSON (``FUNCATRON_LOG_FORMAT=json``, the
default) or text (``dev``).

A Func's log level travels with its request (``funcatron-wf log-level``):
during a call, the call's level decides which of its records pass, so DEBUG
for one Func costs nothing to the others.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import logging
import sys
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, TextIO

from funcatron_wf.engine.contracts import FuncRef, is_request_id

# (request id, Func, the call's log level or None)
current_call: ContextVar[tuple[str, FuncRef | None, int | None] | None] = ContextVar(
    "current_call", default=None
)
_lowered = threading.Lock()
_calls_below_process_level = 0
_process_level = logging.INFO


@contextlib.contextmanager
def request_context(
    request_id: str, func: FuncRef | None = None, log_level: str | None = None
) -> Iterator[None]:
    """Log records inside are about this request (and Func), at ``log_level``
    (a name such as "DEBUG"; None: the process's level)."""
    level = logging.getLevelName(log_level) if log_level else None
    level = level if isinstance(level, int) else None
    token = current_call.set((request_id, func, level))
    lowered = level is not None and level < _process_level
    if lowered:
        _lower_root(+1)
    try:
        yield
    finally:
        current_call.reset(token)
        if lowered:
            _lower_root(-1)


def _lower_root(step: int) -> None:
    """While a call wants more than the process logs, the root logger lets
    records through and the filter below decides, call by call."""
    global _calls_below_process_level
    with _lowered:
        _calls_below_process_level += step
        logging.getLogger().setLevel(
            logging.DEBUG if _calls_below_process_level else _process_level
        )


def _workflow_request_id(record: logging.LogRecord) -> str | None:
    """A Tron's workflow and activity lines: the SDK puts their workflow id
    (a request's id, for a request's workflow) on the record."""
    for key in ("temporal_workflow", "temporal_activity"):
        info = getattr(record, key, None)
        if isinstance(info, dict):
            workflow_id = str(info.get("workflow_id", ""))
            if is_request_id(workflow_id[:32]):
                return workflow_id[:32]
    return None


class RequestContextFilter(logging.Filter):
    """Sets ``record.request_id``, ``record.func`` (name@sha12) and the text
    form ``record.request``; drops a call's records below the call's level."""

    def filter(self, record: logging.LogRecord) -> bool:
        call = current_call.get()
        request_id: str | None
        func: FuncRef | None
        if call is not None:
            request_id, func, level = call
            if record.levelno < (level if level is not None else _process_level):
                return False
        else:
            if record.levelno < _process_level:
                return False
            request_id, func = _workflow_request_id(record), None
        func_name = f"{func.name}@{func.sha[:12]}" if func else None
        record.request_id = request_id
        record.func = func_name
        record.request = (f" request={request_id}" if request_id else "") + (
            f" func={func_name}" if func_name else ""
        )
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id, func."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "func"):
            if getattr(record, key, None):
                line[key] = getattr(record, key)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(request)s"


class _CallStream(io.TextIOBase):
    """sys.stdout/sys.stderr: during a call, each line the Func prints is a
    log record of that call (``func.stdout`` / ``func.stderr``); outside
    one, text goes to the real stream."""

    def __init__(self, stream: TextIO, logger: str, level: int) -> None:
        self._stream = stream
        self._logger = logging.getLogger(logger)
        self._level = level
        self._pending = threading.local()

    def write(self, text: str) -> int:
        if current_call.get() is None:
            return self._stream.write(text)
        pending = getattr(self._pending, "text", "") + text
        *lines, self._pending.text = pending.split("\n")
        for line in lines:
            self._logger.log(self._level, "%s", line)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def fileno(self) -> int:
        return self._stream.fileno()


def configure_logging(level: int, log_format: str = "json") -> None:
    """The process's log handler: JSON or text lines, each with its request."""
    global _process_level
    _process_level = level
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)


def capture_func_output() -> None:
    """A Runner's Funcs' prints become log lines of their call."""
    if not isinstance(sys.stdout, _CallStream):
        sys.stdout = _CallStream(sys.stdout, "func.stdout", logging.INFO)
        sys.stderr = _CallStream(sys.stderr, "func.stderr", logging.WARNING)
