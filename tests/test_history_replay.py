"""The determinism guard: real histories, recorded from the examples by
tests/histories/record.py and committed, replayed against the current
workflow code. A change that running requests, chains, detached steps or
the Registry could not replay fails here (then guard it with
``workflow.patched`` and record again; the README says how)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from funcatron_wf.engine.chain_run import DetachedStepWorkflow
from funcatron_wf.engine.registry import RegistryWorkflow
from funcatron_wf.engine.request_workflow import (
    FastRequestWorkflow,
    RequestWorkflow,
    RoutedRequestWorkflow,
)

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))
REPLAYER = Replayer(
    workflows=[
        RequestWorkflow,
        RoutedRequestWorkflow,
        FastRequestWorkflow,
        DetachedStepWorkflow,
        RegistryWorkflow,
    ],  # fmt: skip
    workflow_runner=UnsandboxedWorkflowRunner(),  # as the Tron (and a Runner) runs them
)


def test_there_are_histories_of_every_workflow_type() -> None:
    kinds = {path.stem for path in HISTORIES}
    assert {"routed-get", "self-routed-no-reply-first-run", "chain-parallel-detached",
            "detached-step", "forward", "registry", "fast-get", "fast-forward",
            "fast-no-reply"} <= kinds  # fmt: skip


@pytest.mark.parametrize("path", HISTORIES, ids=lambda path: path.stem)
async def test_a_recorded_history_replays_on_the_current_code(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem, path.read_text())
    await REPLAYER.replay_workflow(history)  # raises on any nondeterminism
