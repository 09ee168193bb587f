"""Running one operation from workflow code: the activity on its Func
version's task queue, with its timeout and retry policy, every failure
turned into a problem+json reply, and a Func's ``forward(...)`` followed to
the operation it names (each hop its own activity; a loop, or more than
MAX_FORWARDS hops, answers 508 naming the path).

Used by the request workflows (engine/request_workflow.py) for a single
operation and by the chain runner (engine/chain_run.py) for every step.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, FailureError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from funcatron_wf.engine.contracts import (
        BLOB_STORE_FAILED,
        FUNC_ERROR,
        MAX_FORWARDS,
        OPERATION_NOT_FOUND,
        RESOLVE_ACTIVITY,
        TRON_TASK_QUEUE,
        Body,
        FuncCall,
        FuncRef,
        OperationPolicy,
        OperationTarget,
        RequestEnvelope,
        ResponseEnvelope,
        problem_response,
        split_call,
        timed_out_response,
    )
    from funcatron_wf.engine.route_table import TEMPLATE_PARAM

# The Tron's local activities that read its Registry view (routing a
# request, resolving a forward): their retries cover a Registry query that
# failed in passing; one that still fails is answered 500, never left stuck.
LOOKUP_TIMEOUT = timedelta(seconds=10)
LOOKUP_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), maximum_attempts=3)


def operation_call(
    request: RequestEnvelope,
    operation: OperationTarget,
    *,
    body: Body | None,
    content_type: str | None,
    parameters: dict[str, Any],
) -> FuncCall:
    """A call of ``operation`` made on behalf of ``request`` (a chain step, a
    forward): the same request id and headers, the operation's own method
    and path (its template filled from ``parameters``), this body."""
    path = TEMPLATE_PARAM.sub(
        lambda found: str(parameters.get(found.group(1), found.group(0))), operation.path_template
    )
    headers = {
        name: value
        for name, value in (request.headers or {}).items()
        if name not in ("content-type", "content-length")
    }
    if content_type is not None and body is not None:
        headers["content-type"] = content_type
    target = operation.target
    return FuncCall(
        request=RequestEnvelope(
            request_id=request.request_id,
            source=request.source,
            host=request.host,
            method=operation.method,
            path=operation.base_path + path,
            headers=headers,
            body=body,
            reply=request.reply,
            traceparent=request.traceparent,
            source_id=request.source_id,
        ),
        func=FuncRef(name=target.name, sha=target.sha, operation=operation.operation_id),
        operation_path=path,
        parameters=parameters,
        settings=target.settings,
        retry_on_error=operation.policy.retry_attempts > 0,
    )


async def run_operation(
    call: FuncCall,
    operation: OperationTarget,
    *,
    summary: str | None = None,
    on_runner: bool = False,
) -> ResponseEnvelope:
    """Run the operation, following forwards; always a response envelope.

    ``on_runner``: this workflow runs on a Runner of the operation's own
    version (the fast path), so the operation is a local activity there,
    inside this workflow task; a forward's lookup then asks a Tron (an
    activity on the Trons' queue) and the operation it names runs as usual."""
    path = [f"{operation.target.name}:{operation.operation_id}"]
    local = on_runner
    while True:
        response = await _execute(call, operation, summary, local=local)
        local = False  # a forward's operation runs on its own Func's Runners
        forward = response.forward
        if forward is None:
            return response
        func, operation_id = split_call(forward.call, operation.target.name)
        path.append(f"{func}:{operation_id}")
        request_id = call.request.request_id
        if path[-1] in path[:-1] or len(path) > MAX_FORWARDS + 1:
            why = (
                "a forward loop" if path[-1] in path[:-1] else f"more than {MAX_FORWARDS} forwards"
            )
            return problem_response(
                request_id, 508, "Loop Detected", f"{why}: {' -> '.join(path)}", func=response.func
            )
        try:
            found = await _resolve(func, operation_id, on_runner=on_runner)
        except ActivityError as err:
            workflow.logger.error("resolving %s failed: %s", path[-1], err.cause)
            return problem_response(
                request_id,
                500,
                "Internal Server Error",
                f"{path[-2]} forwarded to {path[-1]}, which could not be looked up",
                func=response.func,
            )
        if found is None:
            return problem_response(
                request_id,
                500,
                "Internal Server Error",
                f"{path[-2]} forwarded to {path[-1]}, which no deployed Func serves",
                func=response.func,
            )
        call = operation_call(
            call.request,
            found,
            body=forward.body,
            content_type=forward.content_type,
            parameters=forward.args,
        )
        operation, summary = found, f"forward to {path[-1]}"


async def _resolve(func: str, operation_id: str, *, on_runner: bool) -> OperationTarget | None:
    """Where FUNC:operationId runs now, from a Tron's Registry view: a local
    activity on a Tron, an activity on the Trons' queue from a Runner."""
    options: dict[str, Any] = {
        "args": [func, operation_id],
        "result_type": OperationTarget,
        "start_to_close_timeout": LOOKUP_TIMEOUT,
        "retry_policy": LOOKUP_RETRY,
    }
    found: OperationTarget | None
    if on_runner:
        found = await workflow.execute_activity(
            RESOLVE_ACTIVITY, task_queue=TRON_TASK_QUEUE, **options
        )
    else:
        found = await workflow.execute_local_activity(RESOLVE_ACTIVITY, **options)
    return found


async def _execute(
    call: FuncCall, operation: OperationTarget, summary: str | None, *, local: bool = False
) -> ResponseEnvelope:
    """One activity (``local``: a local activity, on this Runner): the
    Func's reply, or a problem for a timeout or a failure."""
    policy: OperationPolicy = operation.policy
    target = operation.target
    timeout = timedelta(seconds=policy.timeout)
    # The whole budget, retries on a lost Runner included: then 504.
    budget = timeout * max(1, policy.retry_attempts)
    if local:
        # A workflow task lost with its Runner runs again on another, and the
        # call with it, scheduled afresh with a whole budget: a call that ends
        # every Runner it reaches (an async Func blocking the loop) would go
        # from Runner to Runner for good. The call is the fast path's first
        # step, so it must be answered by the request's start plus its budget;
        # the Runner answers 504 past that (workers/runner.py).
        answer_by = workflow.info().workflow_start_time + budget
        call = dataclasses.replace(call, answer_by=answer_by.timestamp())
    options: dict[str, Any] = {
        "result_type": ResponseEnvelope,
        "start_to_close_timeout": timeout,
        "schedule_to_close_timeout": budget,
        "retry_policy": RetryPolicy(
            initial_interval=timedelta(milliseconds=100),
            maximum_attempts=policy.retry_attempts,  # 0: until the budget is spent
            non_retryable_error_types=[OPERATION_NOT_FOUND],
        ),
        "summary": summary,
    }
    try:
        response: ResponseEnvelope
        if local:
            # A Runner lost in the call loses its workflow task, which times
            # out (engine/starting.py) and runs again on another Runner of
            # the version, the call with it: no heartbeats needed.
            response = await workflow.execute_local_activity(
                operation.operation_id, call, **options
            )
        else:
            response = await workflow.execute_activity(
                operation.operation_id,
                call,
                task_queue=target.task_queue,
                heartbeat_timeout=timedelta(seconds=target.settings.heartbeat_timeout),
                **options,
            )
        return response
    except FailureError as err:
        # an activity's failure comes wrapped in an ActivityError; a local
        # activity's as it was raised (an ApplicationError, a timeout)
        return _failure_response(call, policy, err.cause if isinstance(err, ActivityError) else err)


def _failure_response(
    call: FuncCall, policy: OperationPolicy, cause: BaseException | None
) -> ResponseEnvelope:
    request_id, func_ref = call.request.request_id, call.func
    operation_id = func_ref.operation
    if isinstance(cause, TimeoutError):
        return timed_out_response(request_id, operation_id, policy.timeout, func=func_ref)
    if isinstance(cause, ApplicationError) and cause.type == FUNC_ERROR:
        details = cause.details[0] if cause.details else {}
        return problem_response(
            request_id,
            500,
            "Internal Server Error",
            f"{cause.message} (after {policy.retry_attempts} attempts)",
            func=func_ref,
            extra=details if isinstance(details, dict) else None,
        )
    if isinstance(cause, ApplicationError) and cause.type == BLOB_STORE_FAILED:
        return problem_response(
            request_id, 507, "Insufficient Storage", cause.message, func=func_ref
        )
    workflow.logger.warning("operation %s failed: %s", operation_id, cause)
    return problem_response(
        request_id, 500, "Internal Server Error", f"{operation_id} could not be run", func=func_ref
    )
