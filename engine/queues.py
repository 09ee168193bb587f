"""Task queue and workflow id names: the contract between Trons, Runners and sources."""

from __future__ import annotations

TRON_TASK_QUEUE = "funcatron.tron"
REGISTRY_WORKFLOW_ID = "funcatron-registry"
REQUEST_WORKFLOW_TYPE = "RequestWorkflow"
# started by the Tron's front door with the routing decision as its input
ROUTED_REQUEST_WORKFLOW_TYPE = "RoutedRequest"


def func_task_queue(name: str, sha: str) -> str:
    """One task queue per Func bundle version, so a new version gets a new pool."""
    return f"funcatron.func.{name}.{sha[:12]}"
