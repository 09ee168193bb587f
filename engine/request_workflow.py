"""RequestWorkflow: one request, from routing to the response envelope.

1. route with a local activity on the Tron's registry snapshot (recorded in
   history, so replay never re-routes);
2. run the operation as an activity named by its operationId on the Func's
   task queue;
3. return the response envelope. Every failure becomes a problem+json reply
   carrying the request id; the workflow itself does not fail on a Func's
   error, so sources always get an answer to write.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from funcatron_wf.engine.envelopes import (
        FuncRef,
        RequestEnvelope,
        ResponseEnvelope,
        problem_response,
    )
    from funcatron_wf.engine.queues import REQUEST_WORKFLOW_TYPE
    from funcatron_wf.engine.routing import FuncSettings, RouteMatch

ROUTE_ACTIVITY = "funcatron.route"
ROUTE_TIMEOUT = timedelta(seconds=10)
OPERATION_TIMEOUT = timedelta(seconds=30)
# A Func's own exceptions come back as 500 replies, not activity failures, so
# retries here only cover a lost or crashed Runner.
OPERATION_RETRY = RetryPolicy(maximum_attempts=3, non_retryable_error_types=["OperationNotFound"])


@dataclass
class FuncCall:
    """The input of every operation activity."""

    request: RequestEnvelope
    func: FuncRef
    path_params: dict[str, str] = field(default_factory=dict)
    settings: FuncSettings = field(default_factory=FuncSettings)


@workflow.defn(name=REQUEST_WORKFLOW_TYPE)
class RequestWorkflow:
    @workflow.run
    async def run(self, request: RequestEnvelope) -> ResponseEnvelope:
        match = await workflow.execute_local_activity(
            ROUTE_ACTIVITY,
            request,
            result_type=RouteMatch,
            start_to_close_timeout=ROUTE_TIMEOUT,
        )
        if match.func is None:
            return _no_route(request, match)
        func_ref = FuncRef(name=match.func.name, sha=match.func.sha, operation=match.operation_id)
        call = FuncCall(
            request=request,
            func=func_ref,
            path_params=match.path_params,
            settings=match.func.settings,
        )
        try:
            return await workflow.execute_activity(
                match.operation_id,
                call,
                result_type=ResponseEnvelope,
                task_queue=match.func.task_queue,
                start_to_close_timeout=OPERATION_TIMEOUT,
                schedule_to_close_timeout=OPERATION_TIMEOUT * 2,
                retry_policy=OPERATION_RETRY,
            )
        except ActivityError as err:
            if isinstance(err.cause, TimeoutError):
                return problem_response(
                    request.request_id,
                    504,
                    "Operation timed out",
                    f"{match.operation_id} did not answer in time",
                    func=func_ref,
                )
            workflow.logger.warning("operation %s failed: %s", match.operation_id, err.cause)
            return problem_response(
                request.request_id,
                500,
                "Operation failed",
                f"{match.operation_id} could not be run",
                func=func_ref,
            )


def _no_route(request: RequestEnvelope, match: RouteMatch) -> ResponseEnvelope:
    if match.allowed_methods:
        response = problem_response(
            request.request_id,
            405,
            "Method Not Allowed",
            f"{request.method} is not allowed on {request.path}",
        )
        response.headers["allow"] = ", ".join(match.allowed_methods)
        return response
    return problem_response(
        request.request_id,
        404,
        "Not Found",
        f"no Func serves {request.method} {request.path} on host {request.host!r}",
    )
