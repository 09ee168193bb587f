"""One request, from routing to the response envelope. Two workflows, both
started by ``start_request`` (engine/starting.py):

RoutedRequestWorkflow, for requests the Tron's front door routed and
validated before starting them (workers/front_door.py): the decision is part
of its input, so it only runs the operation. That is the HTTP front's usual
path.

RequestWorkflow, for requests started without a decision (the HTTP front
when no front door answers, and sources that have none), which:

1. route and validate with one local activity on the Tron's registry
   snapshot (recorded in history, so replay never re-routes); a request that
   matches no route or breaks its operation's schema is answered here;
2. run the operation as an activity named by its operationId on the Func's
   task queue, with the operation's timeout and retry policy
   (engine/operation_run.py), or the operation's chain (engine/chain_run.py);
3. answer: the workflow's result is the response envelope, which the front
   reads from the close event. A no-reply request (``x-funcatron-reply:
   false`` or ``Prefer: respond-async``) continues-as-new right after
   routing: the front answers 202 when it sees that first run's close event,
   and the new run, under the same workflow id (the request id), runs the
   operation with the routing decision it finds in its memo; its result is
   what the status URL serves. Every
   failure is a problem+json reply with the request id; the workflow itself
   does not fail on a Func's error.

Tried and dropped: a ``response`` update the front waited on. It answered
no-reply requests early too, but cost an update RPC and two events on every
request, and when the update arrived while the first workflow task ran
(usually) an extra workflow task: about 10 ms more per request, measured.
"""

from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributeUpdate
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from funcatron_wf.engine.chain_run import run_chain
    from funcatron_wf.engine.contracts import (
        FAST_REQUEST_WORKFLOW_TYPE,
        REQUEST_WORKFLOW_TYPE,
        ROUTE_ACTIVITY,
        ROUTED_REQUEST_WORKFLOW_TYPE,
        FuncCall,
        FuncRef,
        FuncTarget,
        OperationTarget,
        RequestEnvelope,
        ResponseEnvelope,
        RouteDecision,
        RoutedRequest,
        problem_response,
    )
    from funcatron_wf.engine.operation_run import LOOKUP_RETRY, LOOKUP_TIMEOUT, run_operation
    from funcatron_wf.engine.request_attributes import after_routing, with_status
    from funcatron_wf.engine.starting import waits_for_reply


# The memo key under which a no-reply request's continued run finds its
# routing decision (the workflow's input stays the request envelope alone).
DECISION_MEMO = "route_decision"


@workflow.defn(name=REQUEST_WORKFLOW_TYPE)
class RequestWorkflow:
    @workflow.run
    async def run(self, request: RequestEnvelope) -> ResponseEnvelope:
        accepted = workflow.memo_value(DECISION_MEMO, None, type_hint=RouteDecision)
        if accepted is not None and accepted.target is not None:
            # the continued run of a no-reply request: routing is done
            return await run_decision(request, accepted)
        try:
            decision = await workflow.execute_local_activity(
                ROUTE_ACTIVITY,
                request,
                result_type=RouteDecision,
                start_to_close_timeout=LOOKUP_TIMEOUT,
                retry_policy=LOOKUP_RETRY,
            )
        except ActivityError as err:
            workflow.logger.error("routing request %s failed: %s", request.request_id, err.cause)
            return problem_response(request.request_id, 500, "Routing failed")
        if decision.answer is not None or decision.target is None:
            answer = decision.answer or problem_response(
                request.request_id, 500, "No route decision"
            )
            _upsert(after_routing(request, decision) + with_status(decision, answer.status))
            return answer
        _upsert(after_routing(request, decision))
        if not waits_for_reply(request, decision):
            workflow.continue_as_new(
                request,
                memo={DECISION_MEMO: decision},
                search_attributes=workflow.info().typed_search_attributes,
            )
        return await run_decision(request, decision)


def _upsert(updates: list[SearchAttributeUpdate[Any]]) -> None:
    """Search attributes, where the decision says the namespace has them
    (an empty list otherwise: no command, so histories from before replay)."""
    if updates:
        workflow.upsert_search_attributes(updates)


async def run_decision(
    request: RequestEnvelope, decision: RouteDecision, *, on_runner: bool = False
) -> ResponseEnvelope:
    """Run what routing decided and record the response's status (a search
    attribute); every failure is a problem+json response envelope.
    ``on_runner``: the fast path (FastRequestWorkflow)."""
    target = decision.target
    if decision.answer is not None or target is None:
        # answered by routing: a routed request carries the status from its start
        return decision.answer or problem_response(request.request_id, 500, "No route decision")
    response = await _run(request, decision, target, on_runner=on_runner)
    _upsert(with_status(decision, response.status))
    return response


async def _run(
    request: RequestEnvelope, decision: RouteDecision, target: FuncTarget, *, on_runner: bool
) -> ResponseEnvelope:
    """A chain's plan (engine/chain_run.py), or the one operation as an
    activity on its Func's queue (engine/operation_run.py)."""
    if decision.chain is not None:
        return await run_chain(request, decision, decision.chain)
    operation = OperationTarget(
        target=target,
        operation_id=decision.operation_id,
        method=request.method,
        base_path="",
        path_template=decision.operation_path,
        policy=decision.policy,
    )
    call = FuncCall(
        request=request,
        func=FuncRef(name=target.name, sha=target.sha, operation=decision.operation_id),
        operation_path=decision.operation_path,
        parameters=decision.parameters,
        form_body=decision.form_body,
        settings=target.settings,
        retry_on_error=decision.policy.retry_attempts > 0,
    )
    return await run_operation(call, operation, on_runner=on_runner)


@workflow.defn(name=ROUTED_REQUEST_WORKFLOW_TYPE)
class RoutedRequestWorkflow:
    """A request the Tron's front door routed and validated before starting
    it: the decision is the workflow's input (so replay never re-routes), and
    the workflow only runs the operation. No local activity, no marker, one
    activation fewer than RequestWorkflow; started with eager start, the first
    workflow task skips its dispatch too (docs/performance.md)."""

    @workflow.run
    async def run(self, routed: RoutedRequest) -> ResponseEnvelope:
        return await run_decision(routed.request, routed.decision)


@workflow.defn(name=FAST_REQUEST_WORKFLOW_TYPE)
class FastRequestWorkflow:
    """The fast path: a routed request started by a Runner of the version
    it was routed to, on that version's task queue, with eager start
    (workers/runner_door.py). The operation runs as a local activity inside
    the first workflow task, so the request costs the server one start and
    one task completion; the request and the response are in history as
    for RoutedRequest, the call's marker names the operation, and a Runner
    lost in the call loses the workflow task to another Runner of the
    version, which runs the call again."""

    @workflow.run
    async def run(self, routed: RoutedRequest) -> ResponseEnvelope:
        return await run_decision(routed.request, routed.decision, on_runner=True)
