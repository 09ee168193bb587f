"""Starting a request: the one way every source does it.

``start_request`` owns what makes a request a request:

- its workflow id is its request id, so the Temporal UI finds it by
  ``X-Request-Id``;
- a request id runs at most once. Temporal refuses a second start of an id
  that is running (conflict policy FAIL) or that ran before (reuse policy
  REJECT_DUPLICATE, for as long as the namespace retains the first run), and
  ``start_request`` then hands back the first run instead: a second start
  of the same id gets the first run's result, never a second run. A front
  door whose answer was lost, a redelivered queue message and an HTTP retry
  with the same Idempotency-Key (both map to the same request id) rely on it;
- the task queue (the Trons'), and which workflow: ``RoutedRequest`` when a
  decision was made before the start (the Tron's front door), otherwise
  ``RequestWorkflow``, which routes itself;
- the reply rule: whether the source waits for the response, or answers at
  once ("accepted", 202) while the request runs on.

The nginx front cannot call Python when it starts a request itself (no front
door answering): it sends the same policies to Temporal's HTTP API, rendered
into its config from this module (sources/http_front.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from funcatron_wf.engine.contracts import (
    FAST_REQUEST_WORKFLOW_TYPE,
    REQUEST_WORKFLOW_TYPE,
    ROUTED_REQUEST_WORKFLOW_TYPE,
    TRON_TASK_QUEUE,
    RequestEnvelope,
    ResponseEnvelope,
    RouteDecision,
    RoutedRequest,
)
from funcatron_wf.engine.request_attributes import at_start

ID_REUSE_POLICY = WorkflowIDReusePolicy.REJECT_DUPLICATE
ID_CONFLICT_POLICY = WorkflowIDConflictPolicy.FAIL

# A workflow task held by a Tron that dies is given to another after this
# (Temporal's default is 10 s: measured, a request eagerly started on a Tron
# killed that instant stalled 10 s). Our workflow tasks take milliseconds.
WORKFLOW_TASK_TIMEOUT = timedelta(seconds=2)

# The same policies as Temporal's HTTP API spells them (for the nginx front).
HTTP_API_ID_REUSE_POLICY = "WORKFLOW_ID_REUSE_POLICY_" + ID_REUSE_POLICY.name
HTTP_API_ID_CONFLICT_POLICY = "WORKFLOW_ID_CONFLICT_POLICY_" + ID_CONFLICT_POLICY.name
HTTP_API_WORKFLOW_TASK_TIMEOUT = f"{WORKFLOW_TASK_TIMEOUT.total_seconds():g}s"


def waits_for_reply(request: RequestEnvelope, decision: RouteDecision | None) -> bool:
    """The reply rule. False: answer "accepted" at once; the request runs on.

    A source that asks for no reply (``reply: false``; HTTP's ``Prefer:
    respond-async``) or an operation marked ``x-funcatron-reply: false``
    does not wait; but a request answered without running anything (a 404,
    a 400) gets that answer at once either way. Without a decision none of
    that is known yet: the request's own workflow applies the rule once it
    has routed (it continues-as-new, engine/request_workflow.py).

    RequestWorkflow runs this rule in workflow code: a change to it must be
    guarded with ``workflow.patched`` so running requests still replay.
    """
    if decision is None:
        return request.reply
    return decision.target is None or (request.reply and decision.policy.reply)


@dataclass
class StartedRequest:
    """A request's workflow. ``first_start`` False: the id had started before,
    and ``handle`` is that first run (its result is the request's answer)."""

    handle: WorkflowHandle[Any, ResponseEnvelope]
    first_start: bool
    waits_for_reply: bool
    answer: ResponseEnvelope | None = None  # known already (the fast path answered)

    async def response(self) -> ResponseEnvelope:
        """The request's final response (a no-reply request's too, once it ran)."""
        if self.answer is not None:
            return self.answer
        return await self.handle.result()


def request_summary(request: RequestEnvelope, decision: RouteDecision | None) -> str:
    """The one line the Temporal UI shows for a request in its list:
    'POST pets.local/api/pets -> pets.add_pet' (or -> chain NAME, or -> 404)."""
    where = f"{request.method} {request.host}{request.path}"
    if decision is None:
        return where
    if decision.answer is not None:
        return f"{where} -> {decision.answer.status}"
    if decision.chain is not None:
        return f"{where} -> chain {decision.chain.name}"
    target = decision.target
    version = f" ({target.name}@{target.sha[:12]})" if target else ""
    return f"{where} -> {decision.operation_id}{version}"


async def start_request(
    client: Client,
    request: RequestEnvelope,
    decision: RouteDecision | None = None,
    *,
    task_queue: str = TRON_TASK_QUEUE,
    eager: bool = False,
    summary: bool = True,
    fast: bool = False,
) -> StartedRequest:
    """Start ``request`` under its request id, routed already (``decision``)
    or routing itself. ``eager``: this process runs the Tron worker on
    ``task_queue``, so the first workflow task may come back in the start
    reply (only with a decision: RequestWorkflow's first task routes).
    ``summary``: the workflow carries its one-line summary for the Temporal
    UI (``request_summary``; measured at ~3% of throughput under load).
    ``fast``: the fast path's FastRequest, on a Runner of the decision's
    version (``task_queue`` is that version's)."""
    args: list[Any]
    if decision is not None:
        routed = ROUTED_REQUEST_WORKFLOW_TYPE if not fast else FAST_REQUEST_WORKFLOW_TYPE
        workflow, args = routed, [RoutedRequest(request, decision)]
    else:
        workflow, args = REQUEST_WORKFLOW_TYPE, [request]
    try:
        handle: WorkflowHandle[Any, ResponseEnvelope] = await client.start_workflow(
            workflow,
            args=args,
            id=request.request_id,
            task_queue=task_queue,
            result_type=ResponseEnvelope,
            id_reuse_policy=ID_REUSE_POLICY,
            id_conflict_policy=ID_CONFLICT_POLICY,
            task_timeout=WORKFLOW_TASK_TIMEOUT,
            request_eager_start=eager and decision is not None,
            static_summary=request_summary(request, decision) if summary else None,
            search_attributes=at_start(request, decision) if decision is not None else None,
        )
        first_start = True
    except WorkflowAlreadyStartedError:
        handle = client.get_workflow_handle(request.request_id, result_type=ResponseEnvelope)
        first_start = False
    return StartedRequest(
        handle=handle, first_start=first_start, waits_for_reply=waits_for_reply(request, decision)
    )
