"""From a chain file to the plan the engine runs (engine/contracts.py
``ChainPlan``), checking what the schema cannot: unique step names, every
JMESPath expression, and that each step calls an operation that exists and
is served by code (not by another chain).

Another Func's operations are checked when that Func is known (``dev``
serving several folders, a deploy against the Registry); otherwise the
routing step finds out when the chain starts, and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError

from funcatron_wf.chains.loader import ChainFile
from funcatron_wf.engine.contracts import ChainPlan, ChainStage, ChainStep, split_call
from funcatron_wf.engine.errors import ChainError
from funcatron_wf.engine.specs import retry_attempts

# Func name -> its operationIds -> the chain serving it (None: served by code).
KnownOperations = Mapping[str, Mapping[str, str | None]]


def compile_chain(chain: ChainFile, func: str, known: KnownOperations) -> ChainPlan:
    """``func`` declares the chain; ``known`` holds its operations and those of
    every other Func known now."""
    document = chain.document
    stages: list[ChainStage] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(document["steps"]):
        branches = entry.get("parallel")
        where: tuple[str | int, ...] = ("steps", index)
        if branches is None:
            stages.append(ChainStage([_step(chain, where, entry, func, known, seen)]))
        else:
            steps = [
                _step(chain, (*where, "parallel", n), branch, func, known, seen)
                for n, branch in enumerate(branches)
            ]
            stages.append(ChainStage(steps, parallel=True))
    result = document.get("result")
    if result is not None:
        _check_expression(chain, ("result",), result)
    return ChainPlan(name=document["chain"], source=str(chain.path), stages=stages, result=result)


def _step(
    chain: ChainFile,
    where: tuple[str | int, ...],
    entry: dict[str, Any],
    func: str,
    known: KnownOperations,
    seen: dict[str, int],
) -> ChainStep:
    name = entry["name"]
    line = chain.line(*where)
    if name in seen:
        raise ChainError(
            str(chain.path),
            f"step name {name!r} is used twice (first on line {seen[name]}); "
            "step names are unique in a chain",
            line=line,
        )
    seen[name] = line
    callee, operation_id = split_call(entry["call"], func)
    _check_call(chain, (*where, "call"), entry["call"], callee, operation_id, known)
    for key in ("body", "when"):
        if key in entry:
            _check_expression(chain, (*where, key), entry[key])
    for parameter, expression in (entry.get("args") or {}).items():
        _check_expression(chain, (*where, "args", parameter), expression)
    retry = entry.get("retry")
    return ChainStep(
        name=name,
        func=callee,
        operation_id=operation_id,
        line=line,
        body=entry.get("body"),
        args=entry.get("args"),
        when=entry.get("when"),
        reply=entry.get("reply", True),
        timeout=entry.get("timeout"),
        retry_attempts=None if retry is None else retry_attempts(retry),
    )


def _check_call(
    chain: ChainFile,
    where: tuple[str | int, ...],
    call: str,
    callee: str,
    operation_id: str,
    known: KnownOperations,
) -> None:
    def problem(text: str) -> ChainError:
        return ChainError(str(chain.path), f"step calls {call!r}: {text}", line=chain.line(*where))

    if not callee or not operation_id:
        raise problem("write an operationId of this Func, or FUNC:operationId")
    operations = known.get(callee)
    if operations is None:
        return  # another Func, not known here: checked when the chain starts
    if operation_id not in operations:
        listed = ", ".join(sorted(op for op, served_by in operations.items() if not served_by))
        raise problem(f"Func {callee!r} has no operation {operation_id!r} (it has: {listed})")
    served_by = operations[operation_id]
    if served_by is not None:
        raise problem(
            f"that operation is served by chain {served_by!r}; a step calls an operation "
            "served by code (chains do not nest)"
        )


def _check_expression(chain: ChainFile, where: tuple[str | int, ...], expression: str) -> None:
    try:
        jmespath.compile(expression)
    except JMESPathError as err:
        at = ".".join(str(part) for part in where)
        raise ChainError(
            str(chain.path),
            f"{at} is not a valid JMESPath expression: {expression!r}: {str(err).splitlines()[0]}",
            line=chain.line(*where),
        ) from err
