"""Recent requests, found through Temporal's visibility API by the search
attributes every request carries (engine/request_attributes.py): what
`funcatron-wf requests` and `capture export` list. The same filters work in
the Temporal UI's query box; ``visibility_query`` prints the one it uses."""

from __future__ import annotations

import datetime
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

from temporalio.client import Client, WorkflowExecution

from funcatron_wf.engine.contracts import (
    FAST_REQUEST_WORKFLOW_TYPE,
    REQUEST_WORKFLOW_TYPE,
    ROUTED_REQUEST_WORKFLOW_TYPE,
)
from funcatron_wf.engine.request_attributes import (
    CAPTURED,
    FUNC_NAME,
    FUNC_SHA,
    HOST,
    HTTP_STATUS,
    OPERATION,
    PATH,
    SOURCE,
)

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_STATUS = re.compile(
    r"^(?:(?P<exact>[1-5]\d\d)|(?P<class>[1-5])xx|(?P<op>>=|<=|>|<)(?P<bound>\d{3}))$"
)
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


def since_cutoff(text: str, now: datetime.datetime) -> datetime.datetime:
    """'30s', '10m', '2h', '1d' before ``now``."""
    found = _DURATION.match(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a duration like 30s, 10m, 2h or 1d")
    return now - datetime.timedelta(seconds=int(found[1]) * _UNITS[found[2]])


def status_clause(text: str) -> str:
    """'404', '5xx', '>=500' (also >, <, <=) as a visibility query clause."""
    found = _STATUS.match(text.strip())
    if found is None:
        raise ValueError(f"{text!r} is not a status like 404, 5xx or >=500")
    name = HTTP_STATUS.name
    if found["exact"]:
        return f"{name} = {found['exact']}"
    if found["class"]:
        low = int(found["class"]) * 100
        return f"{name} >= {low} AND {name} <= {low + 99}"
    return f"{name} {found['op']} {found['bound']}"


def visibility_query(
    *,
    func: str | None = None,
    status: str | None = None,
    since: datetime.datetime | None = None,
    captured: bool = False,
) -> str:
    """The requests' query; raises ValueError naming a bad filter."""
    types = ", ".join(
        f"'{name}'"
        for name in (
            REQUEST_WORKFLOW_TYPE,
            ROUTED_REQUEST_WORKFLOW_TYPE,
            FAST_REQUEST_WORKFLOW_TYPE,
        )
    )
    # a no-reply request's first run continued as new under the same id:
    # list the run that answers
    clauses = [f"WorkflowType IN ({types})", "ExecutionStatus != 'ContinuedAsNew'"]
    if func is not None:
        if not _NAME.match(func):
            raise ValueError(f"{func!r} is not a Func name")
        clauses.append(f"{FUNC_NAME.name} = '{func}'")
    if status is not None:
        clauses.append(status_clause(status))
    if since is not None:
        clauses.append(f"StartTime > '{since.astimezone(datetime.UTC).isoformat()}'")
    if captured:
        clauses.append(f"{CAPTURED.name} = true")
    return " AND ".join(clauses)


@dataclass
class ListedRequest:
    request_id: str
    state: str  # Temporal's: Running, Completed, ...
    started: datetime.datetime
    closed: datetime.datetime | None
    http_status: int | None
    func: str | None
    sha: str | None
    operation: str | None
    host: str | None
    path: str | None
    source: str | None

    @property
    def took_ms(self) -> float | None:
        return None if self.closed is None else (self.closed - self.started).total_seconds() * 1000

    @classmethod
    def of(cls, execution: WorkflowExecution) -> ListedRequest:
        attributes = execution.typed_search_attributes
        return cls(
            request_id=execution.id,
            state=execution.status.name.title().replace("_", "") if execution.status else "?",
            started=execution.start_time,
            closed=execution.close_time,
            http_status=attributes.get(HTTP_STATUS),
            func=attributes.get(FUNC_NAME),
            sha=attributes.get(FUNC_SHA),
            operation=attributes.get(OPERATION),
            host=attributes.get(HOST),
            path=attributes.get(PATH),
            source=attributes.get(SOURCE),
        )


async def list_requests(client: Client, query: str, limit: int) -> AsyncIterator[ListedRequest]:
    """The newest requests matching ``query`` first, at most ``limit``."""
    async for execution in client.list_workflows(query, limit=limit):
        yield ListedRequest.of(execution)
