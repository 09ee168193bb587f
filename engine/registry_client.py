"""Client-side calls on the Registry workflow (start it, change it, read it)."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from funcatron_wf.engine.contracts import (
    REGISTRY_WORKFLOW_ID,
    TRON_TASK_QUEUE,
    FuncChange,
    PoolSize,
    RegisteredFunc,
    RegistrySnapshot,
    RegistryState,
    RunnerDoor,
)
from funcatron_wf.engine.errors import FuncatronError
from funcatron_wf.engine.registry import RegistryWorkflow


class RegistrationRefused(FuncatronError):
    """The Registry's validator refused a change (e.g. a route served by another Func)."""


async def ensure_registry(client: Client, *, task_queue: str = TRON_TASK_QUEUE) -> None:
    """Start the Registry workflow unless it is already running."""
    await client.start_workflow(
        RegistryWorkflow.run,
        RegistryState(),
        id=REGISTRY_WORKFLOW_ID,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


async def _change(client: Client, update: Any, argument: Any) -> Any:
    """Run one of the Registry's updates; a refusal becomes RegistrationRefused."""
    handle = client.get_workflow_handle_for(RegistryWorkflow.run, REGISTRY_WORKFLOW_ID)
    try:
        return await handle.execute_update(update, argument)
    except WorkflowUpdateFailedError as err:
        cause = err.cause
        message = cause.message if isinstance(cause, ApplicationError) else str(cause)
        raise RegistrationRefused(message) from err


async def register_func(client: Client, func: RegisteredFunc) -> RegistrySnapshot:
    """Add a version and make it live at once (``dev``)."""
    snapshot: RegistrySnapshot = await _change(client, RegistryWorkflow.register_func, func)
    return snapshot


async def add_version(client: Client, func: RegisteredFunc) -> RegistryState:
    """Add a version as pending (a deploy, before its pool polls)."""
    state: RegistryState = await _change(client, RegistryWorkflow.add_version, func)
    return state


async def change_func(client: Client, what: str, change: FuncChange) -> RegistryState:
    """``what``: activate, promote, rollback, undeploy, scale, set_pool_size,
    set_limits, drop_pending, set_log_level or set_capture."""
    update = {
        "activate": RegistryWorkflow.activate,
        "promote": RegistryWorkflow.promote,
        "rollback": RegistryWorkflow.rollback,
        "undeploy": RegistryWorkflow.undeploy,
        "scale": RegistryWorkflow.scale,
        "set_pool_size": RegistryWorkflow.set_pool_size,
        "set_limits": RegistryWorkflow.set_limits,
        "drop_pending": RegistryWorkflow.drop_pending,
        "set_log_level": RegistryWorkflow.set_log_level,
        "set_capture": RegistryWorkflow.set_capture,
    }[what]
    state: RegistryState = await _change(client, update, change)
    return state


async def set_tron_pool_size(client: Client, size: PoolSize) -> RegistryState:
    state: RegistryState = await _change(client, RegistryWorkflow.set_tron_pool_size, size)
    return state


async def open_runner_door(client: Client, door: RunnerDoor) -> int:
    """Open or renew a Runner's fast-path door; the Registry's generation after."""
    generation: int = await _change(client, RegistryWorkflow.open_door, door)
    return generation


async def close_runner_door(client: Client, door: RunnerDoor) -> int:
    generation: int = await _change(client, RegistryWorkflow.close_door, door)
    return generation


async def read_registry_state(client: Client) -> RegistryState:
    """Every version of every Func; an empty state when no Registry runs yet."""
    handle = client.get_workflow_handle_for(RegistryWorkflow.run, REGISTRY_WORKFLOW_ID)
    try:
        return await handle.query(RegistryWorkflow.state)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return RegistryState()


async def read_registry(client: Client) -> RegistrySnapshot:
    handle = client.get_workflow_handle_for(RegistryWorkflow.run, REGISTRY_WORKFLOW_ID)
    return await handle.query(RegistryWorkflow.snapshot)


async def registry_if_changed(client: Client, generation: int) -> RegistrySnapshot | None:
    """The Registry's snapshot if its generation is no longer ``generation``;
    None if it is, or if no Registry runs yet. Asks the generation first: the
    snapshot carries every Func's spec, too much to read every second."""
    try:
        if await read_registry_generation(client) == generation:
            return None
        return await read_registry(client)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        return None


async def read_registry_generation(client: Client) -> int:
    handle = client.get_workflow_handle_for(RegistryWorkflow.run, REGISTRY_WORKFLOW_ID)
    return await handle.query(RegistryWorkflow.generation)


class NotRegistered(FuncatronError):
    """A Runner was asked to serve a Func version the Registry does not hold."""


async def registered_func(client: Client, name: str, sha: str) -> RegisteredFunc:
    """The Registry's record of one Func version (live, canary, pending or
    older): its spec as registered, its routes and its task queue."""
    state = await read_registry_state(client)
    deployment = next((d for d in state.deployments if d.name == name), None)
    found = deployment.version(sha) if deployment else None
    if found is not None:
        return found
    versions = [v.sha[:12] for v in deployment.versions] if deployment else []
    raise NotRegistered(
        f"Func {name!r} version {sha[:12]} is not in the Registry"
        + (f" (it holds {', '.join(versions)})" if versions else "")
        + "; register it first (`funcatron-wf dev` registers its folders before it starts "
        "the Runner)"
    )
