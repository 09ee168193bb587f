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
   task queue, with the operation's timeout and retry policy;
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

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from funcatron_wf.engine.contracts import (
        FUNC_ERROR,
        OPERATION_NOT_FOUND,
        REQUEST_WORKFLOW_TYPE,
        ROUTE_ACTIVITY,
        ROUTED_REQUEST_WORKFLOW_TYPE,
        FuncCall,
        FuncRef,
        FuncTarget,
        RequestEnvelope,
        ResponseEnvelope,
        RouteDecision,
        RoutedRequest,
        problem_response,
    )
    from funcatron_wf.engine.starting import waits_for_reply

ROUTE_TIMEOUT = timedelta(seconds=10)
# Routing retries cover a Registry query that failed in passing; a request
# that still cannot be routed gets a 500, not a workflow stuck retrying.
ROUTE_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3)


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
            return await run_operation(request, accepted, accepted.target)
        try:
            decision = await workflow.execute_local_activity(
                ROUTE_ACTIVITY,
                request,
                result_type=RouteDecision,
                start_to_close_timeout=ROUTE_TIMEOUT,
                retry_policy=ROUTE_RETRY,
            )
        except ActivityError as err:
            workflow.logger.error("routing request %s failed: %s", request.request_id, err.cause)
            return problem_response(request.request_id, 500, "Routing failed")
        if decision.answer is not None or decision.target is None:
            return decision.answer or problem_response(request.request_id, 500, "No route decision")
        if not waits_for_reply(request, decision):
            workflow.continue_as_new(request, memo={DECISION_MEMO: decision})
        return await run_operation(request, decision, decision.target)


async def run_operation(
    request: RequestEnvelope, decision: RouteDecision, target: FuncTarget
) -> ResponseEnvelope:
    """Run the routed operation as an activity on its Func's queue; every failure
    becomes a problem+json response envelope."""
    policy = decision.policy
    func_ref = FuncRef(name=target.name, sha=target.sha, operation=decision.operation_id)
    call = FuncCall(
        request=request,
        func=func_ref,
        operation_path=decision.operation_path,
        parameters=decision.parameters,
        form_body=decision.form_body,
        settings=target.settings,
        retry_on_error=policy.retry_attempts > 0,
    )
    timeout = timedelta(seconds=policy.timeout)
    try:
        response: ResponseEnvelope = await workflow.execute_activity(
            decision.operation_id,
            call,
            result_type=ResponseEnvelope,
            task_queue=target.task_queue,
            start_to_close_timeout=timeout,
            # The whole budget, retries on a lost Runner included: then 504.
            schedule_to_close_timeout=timeout * max(1, policy.retry_attempts),
            heartbeat_timeout=timedelta(seconds=target.settings.heartbeat_timeout),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(milliseconds=100),
                maximum_attempts=policy.retry_attempts,  # 0: until the budget is spent
                non_retryable_error_types=[OPERATION_NOT_FOUND],
            ),
        )
        return response
    except ActivityError as err:
        cause = err.cause
        if isinstance(cause, TimeoutError):
            return problem_response(
                request.request_id,
                504,
                "Gateway Timeout",
                f"{decision.operation_id} did not answer within {policy.timeout:g} s",
                func=func_ref,
            )
        if isinstance(cause, ApplicationError) and cause.type == FUNC_ERROR:
            details = cause.details[0] if cause.details else {}
            return problem_response(
                request.request_id,
                500,
                "Internal Server Error",
                f"{cause.message} (after {policy.retry_attempts} attempts)",
                func=func_ref,
                extra=details if isinstance(details, dict) else None,
            )
        workflow.logger.warning("operation %s failed: %s", decision.operation_id, cause)
        return problem_response(
            request.request_id,
            500,
            "Internal Server Error",
            f"{decision.operation_id} could not be run",
            func=func_ref,
        )


@workflow.defn(name=ROUTED_REQUEST_WORKFLOW_TYPE)
class RoutedRequestWorkflow:
    """A request the Tron's front door routed and validated before starting
    it: the decision is the workflow's input (so replay never re-routes), and
    the workflow only runs the operation. No local activity, no marker, one
    activation fewer than RequestWorkflow; started with eager start, the first
    workflow task skips its dispatch too (docs/performance.md)."""

    @workflow.run
    async def run(self, routed: RoutedRequest) -> ResponseEnvelope:
        request, decision = routed.request, routed.decision
        if decision.answer is not None or decision.target is None:
            return decision.answer or problem_response(request.request_id, 500, "No route decision")
        return await run_operation(request, decision, decision.target)
