"""The Registry: which Funcs are deployed, every version of each, the live
one and an optional canary, kept in Temporal itself as one long-running
workflow, changed by validated updates and read by queries (DESIGN.md,
"Registry").

A change that is wrong (a route another Func serves, an unknown SHA, a
rollback with nothing to go back to) is refused by the update's validator,
so it never reaches history and changes nothing. The workflow
continues-as-new with its state when Temporal suggests it, so its history
stays small however many deploys it sees; its state stays small because a
deployed version's spec lives in the bundle store (``spec_ref``).
"""

import dataclasses
from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from funcatron_wf.engine.contracts import (
        REGISTRY_WORKFLOW_TYPE,
        Canary,
        Deployment,
        FuncChange,
        PoolSize,
        RegisteredFunc,
        RegistrySnapshot,
        RegistryState,
        Route,
        RunnerDoor,
    )

# Versions kept per Func (for rollback and `ls`); older ones are forgotten.
MAX_VERSIONS = 20
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# A Runner renews its door every DOOR_RENEWAL; one not renewed for
# DOOR_LEASE (a Runner killed) is dropped at the next change of the doors.
DOOR_RENEWAL = timedelta(seconds=60)
DOOR_LEASE = 3 * DOOR_RENEWAL


def door_expired(door: RunnerDoor, now: datetime) -> bool:
    """Not renewed within its lease: its Runner was killed (or never said when)."""
    return not door.renewed_at or now - datetime.fromisoformat(door.renewed_at) > DOOR_LEASE


def _routing_key(route: Route) -> tuple[str, str, str, str]:
    return (route.host, route.base_path, route.method, route.path_template)


@workflow.defn(name=REGISTRY_WORKFLOW_TYPE)
class RegistryWorkflow:
    @workflow.init
    def __init__(self, state: RegistryState) -> None:
        self._generation = state.generation
        self._deployments: dict[str, Deployment] = {d.name: d for d in state.deployments}
        self._trons = state.trons
        self._doors: dict[str, RunnerDoor] = {door.address: door for door in state.doors}

    @workflow.run
    async def run(self, state: RegistryState) -> None:
        await workflow.wait_condition(
            lambda: (
                workflow.info().is_continue_as_new_suggested() and workflow.all_handlers_finished()
            )
        )
        workflow.continue_as_new(self.state())

    # --- reading ---------------------------------------------------------------

    @workflow.query
    def snapshot(self) -> RegistrySnapshot:
        """What routing needs: every live version, and the canaries."""
        funcs, canaries = [], []
        for deployment in self._deployments.values():
            live = deployment.version(deployment.live)
            if live is None:
                continue
            funcs.append(self._with_func_settings(deployment, live))
            canary = deployment.version(deployment.canary)
            if canary is not None:
                canary = self._with_func_settings(deployment, canary)
                canaries.append(Canary(canary, deployment.canary_percent))
        return RegistrySnapshot(
            generation=self._generation,
            funcs=funcs,
            canaries=canaries,
            doors=list(self._doors.values()),
        )

    @staticmethod
    def _with_func_settings(deployment: Deployment, version: RegisteredFunc) -> RegisteredFunc:
        """A version with the Func's own settings (its log level, its capture
        share) on top: routing copies them into each request; and with its
        scale policy as `scale` set it: a rate-limited version's requests
        take the usual path, where Temporal holds the limit."""
        scale = deployment.policy(version)
        if deployment.log_level is not None or deployment.capture:
            settings = dataclasses.replace(
                version.settings, log_level=deployment.log_level, capture=deployment.capture
            )
            version = dataclasses.replace(version, settings=settings)
        if scale != version.scale:
            version = dataclasses.replace(version, scale=scale)
        return version

    @workflow.query
    def state(self) -> RegistryState:
        """Everything: every version of every Func (for `ls`, Runners, the controller)."""
        return RegistryState(
            generation=self._generation,
            deployments=list(self._deployments.values()),
            trons=self._trons,
            doors=list(self._doors.values()),
        )

    @workflow.query
    def generation(self) -> int:
        """What Trons ask every second; they read the snapshot only when this moved."""
        return self._generation

    # --- changing ----------------------------------------------------------------

    def _changed(self) -> RegistryState:
        self._generation += 1
        return self.state()

    def _add(self, func: RegisteredFunc) -> Deployment:
        deployment = self._deployments.setdefault(func.name, Deployment(name=func.name))
        shas = [v.sha for v in deployment.versions]
        if func.sha in shas:  # again (a rollback warming its pool): keep its place
            deployment.versions[shas.index(func.sha)] = func
            return deployment
        deployment.versions.append(func)
        keep = {deployment.live, deployment.canary, deployment.pending}
        while len(deployment.versions) > MAX_VERSIONS:
            oldest = next(v for v in deployment.versions if v.sha not in keep)
            deployment.versions.remove(oldest)
        return deployment

    @workflow.update
    def register_func(self, func: RegisteredFunc) -> RegistrySnapshot:
        """Add a version and make it live at once (``dev``, which runs its pool first)."""
        deployment = self._add(func)
        deployment.live, deployment.canary, deployment.pending = func.sha, None, None
        self._changed()
        return self.snapshot()

    @workflow.update
    def add_version(self, func: RegisteredFunc) -> RegistryState:
        """Add a version as pending: its pool starts; `activate` switches to it."""
        self._add(func).pending = func.sha
        return self._changed()

    @workflow.update
    def activate(self, change: FuncChange) -> RegistryState:
        """Make a version live, or (``canary_percent``) the canary."""
        deployment = self._deployments[change.name]
        if deployment.pending == change.sha:
            deployment.pending = None
        if change.canary_percent is None:
            outgoing = deployment.live
            deployment.live, deployment.canary = change.sha, None
            self._take_over(deployment, outgoing)
        else:
            deployment.canary, deployment.canary_percent = change.sha, change.canary_percent
        return self._changed()

    @workflow.update
    def promote(self, change: FuncChange) -> RegistryState:
        """The canary becomes the live version."""
        deployment = self._deployments[change.name]
        outgoing = deployment.live
        deployment.live, deployment.canary = deployment.canary, None
        self._take_over(deployment, outgoing)
        return self._changed()

    @workflow.update
    def rollback(self, change: FuncChange) -> RegistryState:
        """Back to ``sha``, or to the version deployed before the live one."""
        deployment = self._deployments[change.name]
        outgoing = deployment.live
        deployment.live = change.sha or self._previous(deployment)
        deployment.canary = None
        if deployment.pending == deployment.live:
            deployment.pending = None
        self._take_over(deployment, outgoing)
        return self._changed()

    @staticmethod
    def _take_over(deployment: Deployment, outgoing: str | None) -> None:
        """The new live version starts at the size the autoscaler gave the one
        it replaces (a deploy under load keeps its Runners); the decisions of
        versions that serve no more are dropped (a rollback starts afresh)."""
        incoming = deployment.live
        decided = deployment.sizes.get(outgoing or "")
        if decided is not None and incoming is not None and incoming != outgoing:
            deployment.sizes[incoming] = PoolSize(
                decided.replicas, f"the size of {(outgoing or '')[:12]}, which it replaced",
                workflow.now().isoformat(timespec="seconds"),
            )  # fmt: skip
        serving = {version.sha for version in deployment.serving()}
        deployment.sizes = {sha: size for sha, size in deployment.sizes.items() if sha in serving}

    @workflow.update
    def drop_pending(self, change: FuncChange) -> RegistryState:
        """A version that was pending (its pool never polled, the deploy was
        stopped) is pending no more, so its pool is removed."""
        deployment = self._deployments.get(change.name)
        if deployment is not None and deployment.pending == change.sha:
            deployment.pending = None
        return self._changed()

    @workflow.update
    def set_log_level(self, change: FuncChange) -> RegistryState:
        """The Func's log level, on its next request (no restart)."""
        self._deployments[change.name].log_level = change.log_level or None
        return self._changed()

    @workflow.update
    def set_capture(self, change: FuncChange) -> RegistryState:
        """The share of the Func's requests captured, from its next request."""
        self._deployments[change.name].capture = change.capture or 0.0
        return self._changed()

    @workflow.update
    def undeploy(self, change: FuncChange) -> RegistryState:
        del self._deployments[change.name]
        return self._changed()

    @workflow.update
    def scale(self, change: FuncChange) -> RegistryState:
        """A size pinned (``replicas``: the autoscaler keeps it there), or
        bounds over the spec's (``scale_min``/``scale_max``; None: the spec's)."""
        deployment = self._deployments[change.name]
        if change.replicas is not None:
            deployment.replicas = change.replicas
            deployment.scale_min = deployment.scale_max = change.replicas
            deployment.sizes.clear()
        else:
            deployment.scale_min, deployment.scale_max = change.scale_min, change.scale_max
        return self._changed()

    @workflow.update
    def set_limits(self, change: FuncChange) -> RegistryState:
        """Calls one Runner takes at once (``concurrency``: its pools' Runners
        are replaced) and calls a second for each version (``rate_limit``:
        Temporal's limit on its task queue, set by the controller), over the
        spec's; the names in ``spec_limits`` go back to the spec's."""
        deployment = self._deployments[change.name]
        if change.concurrency is not None:
            deployment.concurrency = change.concurrency
        if change.rate_limit is not None:
            deployment.rate_limit = change.rate_limit
        if "concurrency" in change.spec_limits:
            deployment.concurrency = None
        if "rate_limit" in change.spec_limits:
            deployment.rate_limit = None
        return self._changed()

    @workflow.update
    def set_pool_size(self, change: FuncChange) -> RegistryState:
        """The autoscaler's decision for one version's pool (routes are as
        they were: the Trons need not read again)."""
        deployment = self._deployments[change.name]
        shas = {version.sha for version in deployment.serving()}
        deployment.sizes = {sha: size for sha, size in deployment.sizes.items() if sha in shas}
        assert change.sha is not None and change.replicas is not None  # the validator's
        deployment.sizes[change.sha] = PoolSize(
            change.replicas, change.reason, workflow.now().isoformat(timespec="seconds")
        )
        return self.state()

    @workflow.update
    def set_tron_pool_size(self, size: PoolSize) -> RegistryState:
        """The autoscaler's decision for the Trons' pool (the controller applies it)."""
        self._trons = PoolSize(
            size.replicas, size.reason, workflow.now().isoformat(timespec="seconds")
        )
        return self.state()

    @workflow.update
    def open_door(self, door: RunnerDoor) -> int:
        """A Runner's fast-path door, opened or renewed; the generation after.
        A renewal changes no route, so the Trons need not read again."""
        now = workflow.now()
        known = self._doors.get(door.address)
        expired = self._drop_expired_doors(now)
        self._doors[door.address] = RunnerDoor(
            door.address, list(door.task_queues), now.isoformat(timespec="seconds")
        )
        if expired or known is None or known.task_queues != door.task_queues:
            self._generation += 1
        return self._generation

    @workflow.update
    def close_door(self, door: RunnerDoor) -> int:
        """A Runner stopping: no request is sent to its door any more."""
        closed = self._doors.pop(door.address, None) is not None
        if self._drop_expired_doors(workflow.now()) or closed:
            self._generation += 1
        return self._generation

    def _drop_expired_doors(self, now: datetime) -> bool:
        expired = [address for address, door in self._doors.items() if door_expired(door, now)]
        for address in expired:
            del self._doors[address]
        return bool(expired)

    # --- validators: a refused change never reaches history ----------------------

    @open_door.validator
    def _check_door(self, door: RunnerDoor) -> None:
        host, _, port = door.address.rpartition(":")
        if not host or not port.isdigit() or not door.task_queues:
            raise ValueError(f"a door needs HOST:PORT and task queues, not {door!r}")

    @set_tron_pool_size.validator
    def _check_tron_pool_size(self, size: PoolSize) -> None:
        if size.replicas < 1:
            raise ValueError("the Trons run the requests and this Registry: 1 at least")

    @register_func.validator
    def _check_register(self, func: RegisteredFunc) -> None:
        self._refuse_conflicts(func)

    @add_version.validator
    def _check_add(self, func: RegisteredFunc) -> None:
        self._refuse_conflicts(func)

    @activate.validator
    def _check_activate(self, change: FuncChange) -> None:
        deployment = self._deployment(change)
        if deployment.version(change.sha) is None:
            raise ValueError(f"Func {change.name!r} has no version {change.sha!r}")
        if change.canary_percent is not None:
            if not 0 < change.canary_percent < 100:
                raise ValueError("a canary takes between 0 and 100 percent of the requests")
            if deployment.live is None:
                raise ValueError(f"Func {change.name!r} has no live version to be a canary beside")
            if deployment.live == change.sha:
                raise ValueError(
                    f"version {change.sha[:12]} of {change.name!r} is already live; "
                    "change the Func to make a new version"
                )

    @promote.validator
    def _check_promote(self, change: FuncChange) -> None:
        if self._deployment(change).canary is None:
            raise ValueError(f"Func {change.name!r} has no canary to promote")

    @rollback.validator
    def _check_rollback(self, change: FuncChange) -> None:
        deployment = self._deployment(change)
        if change.sha is None:
            self._previous(deployment)
            return
        found = [v.sha for v in deployment.versions if v.sha.startswith(change.sha)]
        if len(found) != 1:
            raise ValueError(
                f"Func {change.name!r} has {'no' if not found else 'more than one'} version "
                f"{change.sha!r}; `funcatron-wf ls` lists them"
            )
        if found[0] != change.sha:
            raise ValueError(f"give the whole SHA: {found[0]}")

    @undeploy.validator
    def _check_undeploy(self, change: FuncChange) -> None:
        self._deployment(change)

    @set_log_level.validator
    def _check_log_level(self, change: FuncChange) -> None:
        self._deployment(change)
        if change.log_level and change.log_level not in LOG_LEVELS:
            raise ValueError(
                f"log level {change.log_level!r} is not one of {', '.join(LOG_LEVELS)}"
            )

    @set_capture.validator
    def _check_capture(self, change: FuncChange) -> None:
        self._deployment(change)
        if change.capture is None or not 0 <= change.capture <= 1:
            raise ValueError(f"capture share {change.capture!r} is not between 0 and 1")

    @scale.validator
    def _check_scale(self, change: FuncChange) -> None:
        self._deployment(change)
        if change.replicas is not None:
            if change.replicas < 0:
                raise ValueError("replicas must be 0 or more")
            return
        low, high = change.scale_min, change.scale_max
        if low is not None and low < 0 or high is not None and high < 1:
            raise ValueError("--min must be 0 or more, --max 1 or more")
        if low is not None and high is not None and low > high:
            raise ValueError(f"--min {low} is above --max {high}")
        deployment = self._deployments[change.name]
        for version in deployment.serving():
            if low is not None and high is None and low > version.scale.max:
                raise ValueError(
                    f"--min {low} is above the max {version.scale.max} of version "
                    f"{version.sha[:12]}'s x-funcatron-scale: give --max too"
                )
            if high is not None and low is None and high < version.scale.min:
                raise ValueError(
                    f"--max {high} is below the min {version.scale.min} of version "
                    f"{version.sha[:12]}'s x-funcatron-scale: give --min too"
                )

    @set_limits.validator
    def _check_limits(self, change: FuncChange) -> None:
        self._deployment(change)
        if change.concurrency is not None and change.concurrency < 1:
            raise ValueError(f"concurrency {change.concurrency} is below 1")
        if change.rate_limit is not None and change.rate_limit <= 0:
            raise ValueError(
                f"rate limit {change.rate_limit:g} is not above 0 (to stop a Func, scale it to 0)"
            )
        unknown = set(change.spec_limits) - {"concurrency", "rate_limit"}
        if unknown:
            raise ValueError(f"no limit named {', '.join(sorted(unknown))}")

    @set_pool_size.validator
    def _check_pool_size(self, change: FuncChange) -> None:
        deployment = self._deployment(change)
        if change.sha not in {version.sha for version in deployment.serving()}:
            raise ValueError(f"version {change.sha!r} of {change.name!r} serves no more")
        if change.replicas is None or change.replicas < 0:
            raise ValueError("replicas must be 0 or more")

    def _deployment(self, change: FuncChange) -> Deployment:
        deployment = self._deployments.get(change.name)
        if deployment is None:
            deployed = ", ".join(sorted(self._deployments)) or "none"
            raise ValueError(f"no Func {change.name!r} is deployed (deployed: {deployed})")
        return deployment

    @staticmethod
    def _previous(deployment: Deployment) -> str:
        previous = deployment.before_live()
        if previous is None:
            raise ValueError(f"Func {deployment.name!r} has no earlier version to roll back to")
        return previous

    def _refuse_conflicts(self, func: RegisteredFunc) -> None:
        if not func.routes:
            raise ValueError(f"Func {func.name!r} has no operations to route to")
        others = [
            version
            for deployment in self._deployments.values()
            if deployment.name != func.name
            for version in deployment.serving()
        ]
        claimed = {
            _routing_key(route): (other.name, route.operation_id)
            for other in others
            for route in other.routes
        }
        conflicts = [
            f"{route.method} {route.host or '*'}{route.base_path}{route.path_template} "
            f"is already served by Func {claimed[key][0]!r} ({claimed[key][1]})"
            for route in func.routes
            if (key := _routing_key(route)) in claimed
        ]
        queues = {
            route.queue: (other.name, route.operation_id)
            for other in others
            for route in other.routes
            if route.queue
        }
        conflicts += [
            f"queue {route.queue!r} is already bound to Func {queues[route.queue][0]!r} "
            f"({queues[route.queue][1]})"
            for route in func.routes
            if route.queue in queues
        ]
        chains = {plan.name: other.name for other in others for plan in other.chains}
        conflicts += [
            f"chain {plan.name!r} is already declared by Func {chains[plan.name]!r}"
            for plan in func.chains
            if plan.name in chains
        ]
        if conflicts:
            raise ValueError(f"cannot register Func {func.name!r}: " + "; ".join(conflicts))
