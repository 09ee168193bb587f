"""The deploy lifecycle against a running platform: deploy a bundle (or a
folder, bundled on the way), switch a Func's live version only once the
new version's pool polls, canary, promote, rollback, undeploy, scale, and
list what is deployed.

The Registry validates every change (engine/registry.py): a refused one
changes nothing. Pools follow the Registry (deploy/controller.py): a
version becomes *pending* first, its pool starts, and the switch happens
once that pool polls its task queue, so no request waits on a pool that is
not there.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import getpass
import socket
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from funcatron_wf.deploy.bundle_store import BundleStore
from funcatron_wf.deploy.bundles import build_bundle
from funcatron_wf.engine.contracts import (
    Deployment,
    FuncChange,
    FuncSettings,
    RegisteredFunc,
    RegistryState,
)
from funcatron_wf.engine.errors import ConfigError, FuncatronError
from funcatron_wf.engine.registry_client import (
    RegistrationRefused,
    add_version,
    change_func,
    read_registry_state,
)
from funcatron_wf.engine.spec_rewriting import SpecRewrite, parse_rewrites
from funcatron_wf.workers.func_folder import FuncFolder

POOL_TIMEOUT = 120.0  # seconds a new version's pool may take to poll
# Trons refresh their view of the Registry in the background at least this
# often (workers/route_cache.py); a switch is in effect everywhere after it.
TRON_REFRESH = 1.0
LONG_POLL = 65.0  # seconds: a live Runner polls at least this often


class PoolNotReady(FuncatronError):
    """A new version's pool did not start polling in time: nothing switched."""


async def pollers(client: Client, task_queue: str, *, since: float = 0.0) -> int:
    """How many Runners have polled ``task_queue`` since ``since`` (epoch
    seconds). Temporal lists a poller for minutes after its last poll, so a
    pool stopped a moment ago still shows; ``since`` leaves those out."""
    response = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        )
    )
    return sum(
        1 for poller in response.pollers if poller.last_access_time.ToSeconds() >= int(since)
    )


async def wait_for_pool(
    client: Client,
    func: RegisteredFunc,
    console: Console,
    *,
    timeout: float = POOL_TIMEOUT,
    since: float = 0.0,
) -> None:
    deadline = time.monotonic() + timeout
    with console.status(f"waiting for the pool of {func.name} {func.sha[:12]} to poll ..."):
        while await pollers(client, func.task_queue, since=since) == 0:
            if time.monotonic() > deadline:
                raise PoolNotReady(
                    f"the pool of {func.name} {func.sha[:12]} did not poll within {timeout:.0f} s; "
                    "nothing was switched (the platform's log names why: `funcatron-wf up` "
                    "writes STATE_DIR/run/logs/)"
                )
            await asyncio.sleep(0.2)


def deployed_by() -> str:
    return f"{getpass.getuser()}@{socket.gethostname()}"


def bundle_into_store(
    source: Path, store: BundleStore, console: Console, *, wheels: Path | None = None
) -> str:
    """A folder is bundled first; an archive is verified. The bundle's SHA."""
    if source.is_dir():
        with tempfile.TemporaryDirectory(prefix="funcatron-deploy-") as scratch:
            with console.status(f"bundling {source} ..."):
                archive = Path(scratch) / "bundle.tar.gz"
                build_bundle(source, archive, wheels=wheels, say=console.log)
            return store.put(archive).sha
    if not source.is_file():
        raise FuncatronError(f"{source}: neither a Func folder nor a bundle archive")
    with console.status(f"verifying {source} ..."):
        return store.put(source).sha


async def version_record(
    client: Client,
    store: BundleStore,
    sha: str,
    *,
    rewrites: list[SpecRewrite],
    stage: str | None,
    settings: FuncSettings,
) -> RegisteredFunc:
    """The Registry record of a stored bundle: its spec rewritten for the
    stage and stored by reference, its chains checked against the deployed Funcs."""
    bundle = store.fetch(sha)
    rewrites = rewrites + stage_rewrites(bundle.func_dir, stage)
    folder = FuncFolder.load(bundle.func_dir, rewrites, identity=(bundle.manifest.name, sha))
    # its code must load (as its Runners will load it), before anything switches
    if bundle.vendor_dir.is_dir() and str(bundle.vendor_dir) not in sys.path:
        sys.path.insert(0, str(bundle.vendor_dir))
    folder.resolve_operations()
    state = await read_registry_state(client)
    known = {
        deployment.name: {route.operation_id: route.chain for route in live.routes}
        for deployment in state.deployments
        if (live := deployment.version(deployment.live)) is not None
    }
    folder = folder.with_chains_compiled({**known, folder.name: folder.operations()})
    record = folder.registration(settings)
    record.openapi = {}
    record.spec_ref = store.specs.put(folder.spec.openapi)
    record.deployed_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    record.deployed_by = deployed_by()
    record.stage = stage or ""
    return record


def stage_rewrites(func_dir: Path, stage: str | None) -> list[SpecRewrite]:
    """A stage's own spec rewrites: the Func's stages/STAGE.rewrite (one rule a
    line, as FUNCATRON_SPEC_REWRITE), applied after the platform's."""
    if stage is None:
        return []
    stage_file = func_dir / "stages" / f"{stage}.rewrite"
    if not stage_file.is_file():
        known = sorted(path.stem for path in (func_dir / "stages").glob("*.rewrite"))
        raise ConfigError(
            f"the Func has no stages/{stage}.rewrite"
            + (f"; its stages: {', '.join(known)}" if known else "; it declares no stages")
        )
    return parse_rewrites(stage_file.read_text())


async def switch_to(
    client: Client,
    record: RegisteredFunc,
    console: Console,
    *,
    what: str = "activate",
    canary_percent: float | None = None,
    timeout: float = POOL_TIMEOUT,
) -> RegistryState:
    """Pending first (its pool starts), then ``what`` (activate, or
    rollback) once the pool polls; a pool that never polls is dropped."""
    # A running pool re-polls within a long poll (about a minute): pollers
    # seen since then are alive, older listings are pools already gone.
    added_at = time.time() - LONG_POLL
    state = await add_version(client, record)
    try:
        if deployment_of(state, record.name).scale_max == 0:
            raise PoolNotReady(
                f"{record.name} is scaled to 0 Runners: no pool will poll; "
                f"`funcatron-wf scale {record.name} --auto` (or a size) first"
            )
        await wait_for_pool(client, record, console, timeout=timeout, since=added_at)
    except BaseException:
        with contextlib.suppress(Exception):
            await change_func(client, "drop_pending", FuncChange(name=record.name, sha=record.sha))
        raise
    change = FuncChange(name=record.name, sha=record.sha, canary_percent=canary_percent)
    state = await change_func(client, what, change)
    await asyncio.sleep(TRON_REFRESH)
    return state


async def deploy(
    client: Client,
    store: BundleStore,
    source: Path,
    console: Console,
    *,
    rewrites: list[SpecRewrite],
    stage: str | None = None,
    canary_percent: float | None = None,
    settings: FuncSettings | None = None,
    wheels: Path | None = None,
    timeout: float = POOL_TIMEOUT,
) -> RegisteredFunc:
    sha = bundle_into_store(source, store, console, wheels=wheels)
    record = await version_record(
        client, store, sha, rewrites=rewrites, stage=stage, settings=settings or FuncSettings()
    )
    await switch_to(client, record, console, canary_percent=canary_percent, timeout=timeout)
    return record


def deployment_of(state: RegistryState, name: str) -> Deployment:
    found = next((d for d in state.deployments if d.name == name), None)
    if found is None:
        deployed = ", ".join(sorted(d.name for d in state.deployments)) or "none"
        raise RegistrationRefused(f"no Func {name!r} is deployed (deployed: {deployed})")
    return found


async def rollback(
    client: Client, name: str, console: Console, *, to: str | None = None
) -> RegisteredFunc:
    """Back to ``to`` (a SHA or its prefix) or to the version before the live
    one; its pool is started and polling before the switch, as for a deploy."""
    deployment = deployment_of(await read_registry_state(client), name)
    shas = [version.sha for version in deployment.versions]
    if to is not None:
        matches = [sha for sha in shas if sha.startswith(to)]
        if len(matches) != 1:
            raise RegistrationRefused(
                f"Func {name!r} has {'no' if not matches else 'more than one'} version {to!r}; "
                f"its versions: {', '.join(sha[:12] for sha in shas)}"
            )
        target = matches[0]
    else:
        previous = deployment.before_live()
        if previous is None:
            raise RegistrationRefused(f"Func {name!r} has no earlier version to roll back to")
        target = previous
    record = deployment.version(target)
    assert record is not None
    await switch_to(client, record, console, what="rollback")
    return record
