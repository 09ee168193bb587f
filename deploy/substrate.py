"""The substrate interface: where Runner pools run. One pool per Func
version (its task queue); the controller (deploy/controller.py) makes the
pools match the Registry through this interface and nothing else, so the
local processes, Docker Swarm, Kubernetes and Mesos are interchangeable
(DESIGN.md, "Substrates and scaling")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Pool:
    """Runners of one Func version: ``replicas`` processes (or containers)
    serving ``task_queue`` with the bundle ``sha``."""

    func: str
    sha: str
    task_queue: str
    replicas: int


class Substrate(Protocol):
    async def apply(self, pool: Pool) -> None:
        """Create the pool, or set its size."""
        ...

    async def remove(self, func: str, sha: str) -> None:
        """Remove the pool: its Runners stop polling, finish what they hold, exit."""
        ...

    async def pools(self) -> list[Pool]:
        """The pools that exist now, each with its current size."""
        ...
