"""Which operation a queue is bound to, from the Registry: the one named by
``--operation FUNC:OPERATION_ID``, or the one whose ``x-funcatron-queue``
names the queue. Re-read when the Registry's generation moves (asked at most
once a second), so a Func registered after the source started is found."""

from __future__ import annotations

import time

from temporalio.client import Client

from funcatron_wf.engine.contracts import RegistrySnapshot
from funcatron_wf.engine.registry_client import registry_if_changed
from funcatron_wf.sources.queue.messages import Binding


class BindingNotRegistered(Exception):
    """The queue's operation is not (yet) in the Registry: its messages wait."""


def parse_operation(value: str) -> tuple[str, str]:
    """'FUNC:OPERATION_ID' -> (func, operationId)."""
    func, sep, operation_id = value.partition(":")
    if not sep or not func or not operation_id:
        raise ValueError(f"{value!r} is not FUNC:OPERATION_ID (e.g. pets:pets.create)")
    return func, operation_id


class QueueBindings:
    def __init__(
        self, client: Client, queue: str, operation: str | None = None, *, max_age: float = 1.0
    ) -> None:
        self._client = client
        self._queue = queue
        self._operation = parse_operation(operation) if operation else None
        self._max_age = max_age
        self._snapshot = RegistrySnapshot(generation=-1)
        self._checked_at = float("-inf")

    async def binding(self) -> Binding | None:
        """The queue's operation (None: not bound; its messages carry their route)."""
        if time.monotonic() - self._checked_at > self._max_age:
            await self._refresh()
        return self._find()

    async def _refresh(self) -> None:
        snapshot = await registry_if_changed(self._client, self._snapshot.generation)
        if snapshot is not None:
            self._snapshot = snapshot
        self._checked_at = time.monotonic()

    def _find(self) -> Binding | None:
        matches = [
            (func.name, route)
            for func in self._snapshot.funcs
            for route in func.routes
            if (
                (func.name, route.operation_id) == self._operation
                if self._operation
                else route.queue == self._queue
            )
        ]
        if not matches:
            if self._operation:
                raise BindingNotRegistered(
                    f"queue {self._queue!r} is bound to {':'.join(self._operation)}, "
                    "which no registered Func has (yet): its messages wait for it"
                )
            return None
        _, route = matches[0]  # one per operation; several servers: the first
        return Binding(
            host=route.host, method=route.method, path=route.base_path + route.path_template
        )
