"""Running a chain plan (engine/contracts.py ``ChainPlan``) in the request's
workflow: stages in order, a parallel stage's branches at once, ``when``
conditions, bodies and arguments shaped with JMESPath over ``{request,
body, steps}``, detached steps as child workflows the request never awaits
(parent-close policy ABANDON: they outlive it, and are never lost). Every
step is its own activity, summarized with its name; a step that finished is
never run again, whatever happens to a Runner or a Tron (Temporal's
history).

The reply: ``result`` shaped as JSON, or the last step's reply as it is. A
step that answers 4xx/5xx ends the chain with a problem document naming the
chain and the step, with the step's own status.

This is workflow code: JMESPath is pure, so evaluating it here is
deterministic; a change to how a plan runs must be guarded with
``workflow.patched`` so running chains still replay.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field, replace
from http import HTTPStatus
from typing import Any

import jmespath
import jmespath.exceptions
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from funcatron_wf.engine.contracts import (
        DETACHED_STEP_WORKFLOW_TYPE,
        Body,
        ChainPlan,
        ChainStep,
        DetachedCall,
        OperationPolicy,
        OperationTarget,
        RequestEnvelope,
        ResponseEnvelope,
        RouteDecision,
        problem_response,
    )
    from funcatron_wf.engine.operation_run import operation_call, run_operation

JSON = "application/json"


class ChainFailed(Exception):
    """An expression, or a body it reads, failed while the chain ran: the
    chain is answered with ``status`` naming what failed (never a workflow
    task failing over and over)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def reply_value(response: ResponseEnvelope, what: str) -> Any:
    """A reply as JMESPath sees it (``steps.<name>``): parsed JSON, text, or
    None for a body that is neither (bytes, or a blob ref too large to shape)."""
    body = response.body
    if body is None:
        return None
    if body.encoding == "json":
        try:
            return json.loads(body.data) if body.data else None
        except ValueError as err:
            raise ChainFailed(500, f"{what} is not valid JSON: {err}") from err
    return body.data if body.encoding == "text" else None


@dataclass
class ChainState:
    """What a running chain knows: the data its expressions read, and the
    reply the next step gets by default (the previous step's)."""

    request: RequestEnvelope
    decision: RouteDecision
    data: dict[str, Any]
    last: ResponseEnvelope | None = None
    steps: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, request: RequestEnvelope, decision: RouteDecision) -> ChainState:
        if decision.form_body is not None:
            body: Any = decision.form_body
        elif request.body is None:
            body = None
        else:
            try:
                body = reply_value(
                    ResponseEnvelope(status=200, request_id="", body=request.body), "the body"
                )
            except ChainFailed as failed:
                raise ChainFailed(400, failed.detail) from failed
        envelope = {
            "request_id": request.request_id,
            "source": request.source,
            "host": request.host,
            "method": request.method,
            "path": request.path,
            "query": request.query or {},
            "headers": request.headers or {},
            "parameters": decision.parameters,
        }
        state = cls(request, decision, {"request": envelope, "body": body})
        state.data["steps"] = state.steps
        return state

    def evaluate(self, expression: str, where: str) -> Any:
        try:
            return jmespath.search(expression, self.data)
        except (jmespath.exceptions.JMESPathError, TypeError, ValueError) as err:
            raise ChainFailed(500, f"{where} {expression!r} failed: {err}") from err


async def run_chain(
    request: RequestEnvelope, decision: RouteDecision, plan: ChainPlan
) -> ResponseEnvelope:
    try:
        return await _run_stages(request, decision, plan)
    except ChainFailed as failed:
        return problem_response(
            request.request_id,
            failed.status,
            HTTPStatus(failed.status).phrase,
            f"chain {plan.name!r}: {failed.detail}",
            extra={"chain": plan.name},
        )


async def _run_stages(
    request: RequestEnvelope, decision: RouteDecision, plan: ChainPlan
) -> ResponseEnvelope:
    state = ChainState.start(request, decision)
    for stage in plan.stages:
        replies = await asyncio.gather(*(_run_step(state, plan, step) for step in stage.steps))
        for step, reply in zip(stage.steps, replies, strict=True):
            if reply is not None and reply.status >= 400:
                return _step_failed(request, plan, step, reply)
        ran = [(step, reply) for step, reply in zip(stage.steps, replies, strict=True) if reply]
        for step, reply in ran:
            state.steps[step.name] = reply_value(reply, f"step {step.name!r}'s reply")
        if stage.parallel and ran:
            # after a parallel stage, "the previous output" is its branches' outputs
            joined = {step.name: state.steps[step.name] for step, _ in ran}
            state.last = replace(ran[-1][1], body=Body.from_json(joined))
            state.last.headers = {**state.last.headers, "content-type": JSON}
        elif ran:
            state.last = ran[-1][1]
    return _chain_reply(state, plan)


async def _run_step(state: ChainState, plan: ChainPlan, step: ChainStep) -> ResponseEnvelope | None:
    """A step's reply; None when it was skipped (``when``) or detached."""
    if step.when is not None and not state.evaluate(step.when, f"step {step.name!r}'s when"):
        state.steps.setdefault(step.name, None)
        return None
    if step.resolved is None:  # the routing step pins every step before the chain starts
        return problem_response(state.request.request_id, 500, "Unresolved chain step")
    operation = _with_step_policy(step.resolved, step)
    call = operation_call(
        state.request,
        operation,
        **_step_body(state, step),
        parameters=(
            {
                name: state.evaluate(expression, f"step {step.name!r}'s args.{name}")
                for name, expression in step.args.items()
            }
            if step.args is not None
            else dict(state.decision.parameters)
        ),
    )
    summary = f"{plan.name}: step {step.name} ({step.call})"
    if not step.reply:
        await workflow.start_child_workflow(
            DETACHED_STEP_WORKFLOW_TYPE,
            DetachedCall(call=call, operation=operation, summary=summary),
            id=f"{state.request.request_id}-{step.name}",
            parent_close_policy=workflow.ParentClosePolicy.ABANDON,
            static_summary=summary,
        )
        state.steps.setdefault(step.name, None)
        return None
    return await run_operation(call, operation, summary=summary)


def _with_step_policy(operation: OperationTarget, step: ChainStep) -> OperationTarget:
    policy = operation.policy
    return replace(
        operation,
        policy=OperationPolicy(
            timeout=policy.timeout if step.timeout is None else step.timeout,
            reply=True,
            retry_attempts=(
                policy.retry_attempts if step.retry_attempts is None else step.retry_attempts
            ),
        ),
    )


def _step_body(state: ChainState, step: ChainStep) -> dict[str, Any]:
    """The step's body and its content type: the ``body`` expression's value
    as JSON, or else the previous step's reply (the chain's request for the
    first step) as it is."""
    if step.body is not None:
        value = state.evaluate(step.body, f"step {step.name!r}'s body")
        return {"body": Body.from_json(value), "content_type": JSON}
    if state.last is not None:
        return {"body": state.last.body, "content_type": state.last.headers.get("content-type")}
    if state.decision.form_body is not None:
        return {"body": Body.from_json(state.decision.form_body), "content_type": JSON}
    request = state.request
    return {"body": request.body, "content_type": (request.headers or {}).get("content-type")}


def _chain_reply(state: ChainState, plan: ChainPlan) -> ResponseEnvelope:
    request_id = state.request.request_id
    last = state.last
    if plan.result is None:
        if last is None:
            return ResponseEnvelope(status=204, request_id=request_id)
        return replace(last, request_id=request_id)
    value = state.evaluate(plan.result, "result")
    status = last.status if last is not None and last.status != 204 else 200
    if value is None:
        return ResponseEnvelope(status=204, request_id=request_id)
    return ResponseEnvelope(
        status=status,
        request_id=request_id,
        headers={"content-type": JSON},
        body=Body.from_json(value),
        func=last.func if last is not None else None,
    )


def _step_failed(
    request: RequestEnvelope, plan: ChainPlan, step: ChainStep, reply: ResponseEnvelope
) -> ResponseEnvelope:
    """The chain's answer when a step answered 4xx/5xx: the step's status,
    and a problem document naming the chain and the step."""
    try:
        title = HTTPStatus(reply.status).phrase
    except ValueError:
        title = "Error"
    return problem_response(
        request.request_id,
        reply.status,
        title,
        f"chain {plan.name!r}: step {step.name!r} ({step.call}) answered {reply.status}",
        func=reply.func,
        extra={
            "chain": plan.name,
            "step": step.name,
            "step_status": reply.status,
            "step_reply": _quietly(reply),
        },
    )


def _quietly(reply: ResponseEnvelope) -> Any:
    """A failing step's own answer for the problem document, as far as it parses."""
    try:
        return reply_value(reply, "the step's reply")
    except ChainFailed:
        return None


@workflow.defn(name=DETACHED_STEP_WORKFLOW_TYPE)
class DetachedStepWorkflow:
    """A chain step marked ``reply: false``: started by the request's
    workflow, which does not wait for it; its result is the step's reply."""

    @workflow.run
    async def run(self, detached: DetachedCall) -> ResponseEnvelope:
        return await run_operation(detached.call, detached.operation, summary=detached.summary)
