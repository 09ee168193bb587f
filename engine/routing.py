"""The routing step, in one place: (request, registry view) -> decision.

Match the request to an operation (engine/route_table.py), read its body,
validate it against the operation with openapi-core (engine/validation.py),
and decide: what to run (the Func version's task queue, the operation, its
typed parameters and policy) or the answer to give without running anything
(404, 405, 415, 401, 400). The Tron's front door and RequestWorkflow's
routing activity both call ``decide``; neither adds a rule of its own.
"""

from __future__ import annotations

import copy
import logging

from funcatron_wf.engine.blobs import BlobStore, MissingBlobStore, body_bytes
from funcatron_wf.engine.contracts import (
    REPLAY_SOURCE,
    ChainPlan,
    FuncRef,
    FuncTarget,
    OperationTarget,
    RegisteredFunc,
    RegistrySnapshot,
    RequestEnvelope,
    ResponseEnvelope,
    RouteDecision,
    canary_bucket,
    capture_bucket,
    problem_response,
)
from funcatron_wf.engine.route_table import RouteMatch, RouteTable
from funcatron_wf.engine.spec_store import SpecNotFound, SpecStore, registered_spec
from funcatron_wf.engine.validation import OperationValidator, ValidatedRequest

logger = logging.getLogger(__name__)


class RegistryView:
    """What routing reads: the Registry's routes, indexed once per snapshot,
    and one validator per Func version, built when first needed."""

    def __init__(self, snapshot: RegistrySnapshot, specs: SpecStore | None = None) -> None:
        self.generation = snapshot.generation
        self.table = RouteTable(snapshot.funcs)
        self._specs = specs
        self._canaries = {
            canary.func.name: (RouteTable([canary.func]), canary.percent)
            for canary in snapshot.canaries
        }
        self._validators: dict[str, OperationValidator] = {}
        self._chains = {plan.name: plan for func in snapshot.funcs for plan in func.chains}
        self._operations = {
            (func.name, route.operation_id): OperationTarget(
                target=target(func),
                operation_id=route.operation_id,
                method=route.method,
                base_path=route.base_path,
                path_template=route.path_template,
                policy=route.policy,
            )
            for func in snapshot.funcs
            for route in func.routes
            if route.chain is None
        }

    def operation(self, func: str, operation_id: str) -> OperationTarget | None:
        """Where FUNC:operationId runs now (an operation served by code)."""
        return self._operations.get((func, operation_id))

    def pinned_chain(self, name: str) -> ChainPlan | str:
        """The chain with every step's operation resolved to the version
        live now (so a deploy while it runs does not mix versions), or why not."""
        plan = self._chains.get(name)
        if plan is None:
            return f"no chain {name!r} is deployed"
        pinned = copy.deepcopy(plan)
        for step in pinned.steps():
            step.resolved = self.operation(step.func, step.operation_id)
            if step.resolved is None:
                return (
                    f"chain {name!r}: step {step.name!r} calls {step.call}, "
                    "which no deployed Func serves"
                )
        return pinned

    def match(self, request: RequestEnvelope) -> RouteMatch:
        """The live version's route; for a Func with a canary, the canary's
        for the requests whose id falls in its share (when it has the route)."""
        match = self.table.match(request.host, request.method, request.path)
        if match.func is not None and match.func.name in self._canaries:
            table, percent = self._canaries[match.func.name]
            if canary_bucket(request.request_id) < percent:
                canary = table.match(request.host, request.method, request.path)
                if canary.func is not None:
                    canary.canary = True
                    return canary
        return match

    def validator(self, func: RegisteredFunc) -> OperationValidator:
        validator = self._validators.get(func.sha)
        if validator is None:
            spec = registered_spec(func, self._specs)
            validator = self._validators[func.sha] = OperationValidator(spec)
        return validator

    def carry_validators_from(self, older: RegistryView) -> None:
        """Keep the validators of versions still registered (building one parses a spec)."""
        registered = {func.sha for func in self.table.funcs} | {
            table.funcs[0].sha for table, _ in self._canaries.values()
        }
        self._validators.update(
            (sha, validator) for sha, validator in older._validators.items() if sha in registered
        )


def decide(
    request: RequestEnvelope,
    view: RegistryView,
    *,
    blobs: BlobStore | None,
    match: RouteMatch | None = None,
) -> RouteDecision:
    """Match (unless the caller has: ``match``), then validate: what to run,
    or the answer (404, 405, 400, ...)."""
    match = view.match(request) if match is None else match
    if match.func is None or match.route is None:
        return RouteDecision(answer=no_route_response(request, match))
    func = match.func
    matched = FuncRef(
        name=func.name, sha=func.sha, operation=match.route.chain or match.route.operation_id
    )
    # a replay (`funcatron-wf replay`) is never captured: a replayed set would grow
    captured = (
        request.source != REPLAY_SOURCE
        and capture_bucket(request.request_id) < func.settings.capture
    )
    try:
        validated = view.validator(match.func).validate(
            request,
            match.operation_path,
            None if request.body is None else body_bytes(request.body, blobs),
        )
    except (MissingBlobStore, SpecNotFound):
        raise  # the platform's mistake, not the request's: a 500 from the caller
    except Exception:  # bad input must get an answer, never a stuck workflow
        logger.exception("request %s: validation failed", request.request_id)
        return RouteDecision(
            answer=problem_response(
                request.request_id, 400, "Bad Request", "the request could not be validated"
            ),
            matched=matched,
            capture=captured,
        )
    answer = invalid_request_response(request, validated)
    if answer is not None:
        return RouteDecision(answer=answer, matched=matched, capture=captured)
    decision = RouteDecision(
        target=target(match.func),
        operation_id=match.route.operation_id,
        operation_path=match.operation_path,
        policy=match.route.policy,
        parameters=validated.parameters,
        form_body=validated.form_body,
        canary=match.canary,
        capture=captured,
        matched=matched,
    )
    if match.route.chain is not None:
        return with_chain(request, decision, view.pinned_chain(match.route.chain))
    return decision


def target(func: RegisteredFunc) -> FuncTarget:
    return FuncTarget(
        name=func.name, sha=func.sha, task_queue=func.task_queue, settings=func.settings
    )


def with_chain(
    request: RequestEnvelope, decision: RouteDecision, chain: ChainPlan | str
) -> RouteDecision:
    """A chain's request carries its pinned plan, or is answered here."""
    if isinstance(chain, str):
        return RouteDecision(
            answer=problem_response(request.request_id, 500, "Internal Server Error", chain)
        )
    if request.body is not None and request.body.encoding == "ref":
        # a chain shapes its body in the workflow, where a blob ref cannot be read
        return RouteDecision(
            answer=problem_response(
                request.request_id,
                413,
                "Content Too Large",
                f"chain {chain.name!r} takes bodies up to the inline limit only",
            )
        )
    decision.chain = chain
    return decision


def no_route_response(request: RequestEnvelope, match: RouteMatch) -> ResponseEnvelope:
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


def invalid_request_response(
    request: RequestEnvelope, validated: ValidatedRequest
) -> ResponseEnvelope | None:
    if validated.unsupported_media_type:
        return problem_response(
            request.request_id, 415, "Unsupported Media Type", validated.unsupported_media_type
        )
    if validated.unauthorized:
        return problem_response(
            request.request_id,
            401,
            "Unauthorized",
            "the operation's security requirements are not met",
        )
    if validated.violations:
        return problem_response(
            request.request_id,
            400,
            "Bad Request",
            f"the request breaks its OpenAPI operation in {len(validated.violations)} place(s)",
            extra={"invalid_params": validated.violations},
        )
    return None
