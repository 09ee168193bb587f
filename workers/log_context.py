"""Which request a log line is about, without the code that logs saying so.

The Runner sets ``current_call`` around each call; the Python host copies
context variables into the threads that run sync Funcs, so a Func's own
``logging`` calls carry its request too. ``RequestContextFilter``, on the
process's log handler, writes it into every record (``%(request)s``).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

from funcatron_wf.engine.contracts import FuncRef

current_call: ContextVar[tuple[str, FuncRef] | None] = ContextVar("current_call", default=None)


@contextlib.contextmanager
def request_context(request_id: str, func: FuncRef) -> Iterator[None]:
    token = current_call.set((request_id, func))
    try:
        yield
    finally:
        current_call.reset(token)


class RequestContextFilter(logging.Filter):
    """Sets ``record.request``: ' request=<id> func=<name>@<sha12>', or '' outside a call."""

    def filter(self, record: logging.LogRecord) -> bool:
        call = current_call.get()
        record.request = (
            f" request={call[0]} func={call[1].name}@{call[1].sha[:12]}" if call else ""
        )
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(request)s"


def configure_logging(level: int) -> None:
    """The process's log handler, with each line's request (if any)."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestContextFilter())
