"""The Registry: which Funcs are deployed and their routes, kept in Temporal
itself as one long-running workflow, changed by validated updates and read by
queries (DESIGN.md, "Registry").

A conflicting registration is refused by the update's validator, so it never
reaches history. The workflow continues-as-new with its state when Temporal
suggests it, so its history stays small however many deploys it sees.
"""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from funcatron_wf.engine.contracts import (
        REGISTRY_WORKFLOW_TYPE,
        RegisteredFunc,
        RegistrySnapshot,
        Route,
    )


def _routing_key(route: Route) -> tuple[str, str, str, str]:
    return (route.host, route.base_path, route.method, route.path_template)


@workflow.defn(name=REGISTRY_WORKFLOW_TYPE)
class RegistryWorkflow:
    @workflow.init
    def __init__(self, state: RegistrySnapshot) -> None:
        self._generation = state.generation
        self._funcs: dict[str, RegisteredFunc] = {func.name: func for func in state.funcs}

    @workflow.run
    async def run(self, state: RegistrySnapshot) -> None:
        await workflow.wait_condition(
            lambda: (
                workflow.info().is_continue_as_new_suggested() and workflow.all_handlers_finished()
            )
        )
        workflow.continue_as_new(self.snapshot())

    @workflow.query
    def snapshot(self) -> RegistrySnapshot:
        return RegistrySnapshot(generation=self._generation, funcs=list(self._funcs.values()))

    @workflow.query
    def generation(self) -> int:
        """What Trons ask every second; they read the snapshot, which carries
        every Func's spec, only when this has moved."""
        return self._generation

    @workflow.update
    def register_func(self, func: RegisteredFunc) -> RegistrySnapshot:
        """Add a Func, or replace the version registered under its name."""
        self._funcs[func.name] = func
        self._generation += 1
        return self.snapshot()

    @register_func.validator
    def _refuse_conflicting_routes(self, func: RegisteredFunc) -> None:
        if not func.routes:
            raise ValueError(f"Func {func.name!r} has no operations to route to")
        claimed = {
            _routing_key(route): (other.name, route.operation_id)
            for other in self._funcs.values()
            if other.name != func.name
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
            for other in self._funcs.values()
            if other.name != func.name
            for route in other.routes
            if route.queue
        }
        conflicts += [
            f"queue {route.queue!r} is already bound to Func {queues[route.queue][0]!r} "
            f"({queues[route.queue][1]})"
            for route in func.routes
            if route.queue in queues
        ]
        chains = {
            plan.name: other.name
            for other in self._funcs.values()
            if other.name != func.name
            for plan in other.chains
        }
        conflicts += [
            f"chain {plan.name!r} is already declared by Func {chains[plan.name]!r}"
            for plan in func.chains
            if plan.name in chains
        ]
        if conflicts:
            raise ValueError(f"cannot register Func {func.name!r}: " + "; ".join(conflicts))
