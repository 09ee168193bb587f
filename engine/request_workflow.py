"""RequestWorkflow: one request, from routing to the response envelope.

1. route and validate with one local activity on the Tron's registry
   snapshot (recorded in history, so replay never re-routes); a request that
   matches no route or breaks its operation's schema is answered here;
2. run the operation as an activity named by its operationId on the Func's
   task queue, with the operation's timeout and retry policy;
3. answer. The front reads the answer through the ``response`` update: the
   final response, or for a no-reply request (``x-funcatron-reply: false``
   or ``Prefer: respond-async``) a 202 as soon as routing is done, while the
   workflow runs on; its result is then the final response, which the status
   URL serves. Every failure is a problem+json reply with the request id; the
   workflow itself does not fail on a Func's error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from funcatron_wf.engine.envelopes import (
        Body,
        FuncRef,
        RequestEnvelope,
        ResponseEnvelope,
        problem_response,
    )
    from funcatron_wf.engine.queues import REQUEST_WORKFLOW_TYPE
    from funcatron_wf.engine.routing import FuncSettings, OperationPolicy

ROUTE_ACTIVITY = "funcatron.route"
ROUTE_TIMEOUT = timedelta(seconds=10)
# Routing retries cover a Registry query that failed in passing; a request
# that still cannot be routed gets a 500, not a workflow stuck retrying.
ROUTE_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3)
# A Runner that stops heartbeating this long is taken for lost: its task is
# retried on another Runner.
HEARTBEAT_TIMEOUT = timedelta(seconds=5)
FUNC_ERROR = "FuncError"  # a Func's exception, raised only for retryable operations
STATUS_PATH = "/_funcatron/requests/"


@dataclass
class FuncTarget:
    """Where an operation runs: the Func version's task queue, and its settings."""

    name: str
    sha: str
    task_queue: str
    settings: FuncSettings = field(default_factory=FuncSettings)


@dataclass
class RouteDecision:
    """The routing activity's result: an answer (``error``) or what to run."""

    error: ResponseEnvelope | None = None
    target: FuncTarget | None = None
    operation_id: str = ""
    operation_path: str = ""  # the request path below the base path
    policy: OperationPolicy = field(default_factory=OperationPolicy)
    parameters: dict[str, Any] = field(default_factory=dict)
    form_body: dict[str, Any] | None = None


@dataclass
class FuncCall:
    """The input of every operation activity."""

    request: RequestEnvelope
    func: FuncRef
    operation_path: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    form_body: dict[str, Any] | None = None
    settings: FuncSettings = field(default_factory=FuncSettings)
    retry_on_error: bool = False


def accepted_response(request: RequestEnvelope) -> ResponseEnvelope:
    status_url = STATUS_PATH + request.request_id
    return ResponseEnvelope(
        status=202,
        request_id=request.request_id,
        headers={"content-type": "application/json", "location": status_url},
        body=Body.from_json(
            {"request_id": request.request_id, "state": "accepted", "status_url": status_url}
        ),
    )


@workflow.defn(name=REQUEST_WORKFLOW_TYPE)
class RequestWorkflow:
    def __init__(self) -> None:
        self._response: ResponseEnvelope | None = None

    @workflow.update
    async def response(self) -> ResponseEnvelope:
        """The answer for the client: final, or 202 for a no-reply request."""
        await workflow.wait_condition(lambda: self._response is not None)
        assert self._response is not None
        return self._response

    @workflow.run
    async def run(self, request: RequestEnvelope) -> ResponseEnvelope:
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
            decision = RouteDecision(
                error=problem_response(request.request_id, 500, "Routing failed")
            )
        if decision.error is not None or decision.target is None:
            final = decision.error or problem_response(request.request_id, 500, "No route decision")
        else:
            if not (request.reply and decision.policy.reply):
                self._response = accepted_response(request)
                self._response.headers["preference-applied"] = "respond-async"
            final = await self._run_operation(request, decision, decision.target)
        if self._response is None:
            self._response = final
        await workflow.wait_condition(workflow.all_handlers_finished)
        return final

    async def _run_operation(
        self, request: RequestEnvelope, decision: RouteDecision, target: FuncTarget
    ) -> ResponseEnvelope:
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
            return await workflow.execute_activity(
                decision.operation_id,
                call,
                result_type=ResponseEnvelope,
                task_queue=target.task_queue,
                start_to_close_timeout=timeout,
                # The whole budget, retries on a lost Runner included: then 504.
                schedule_to_close_timeout=timeout * max(1, policy.retry_attempts),
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(milliseconds=100),
                    maximum_attempts=policy.retry_attempts,  # 0: until the budget is spent
                    non_retryable_error_types=["OperationNotFound"],
                ),
            )
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
