"""The substrate interface: where Runner pools run, and the Trons. One
pool per Func version (its task queue); the controller (deploy/controller.py) makes the
pools match the Registry through this interface and nothing else, so the
local processes, Docker Swarm, Kubernetes and Mesos are interchangeable
(DESIGN.md, "Substrates and scaling")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from funcatron_wf.engine.contracts import DEFAULT_CALL_CONCURRENCY, DEFAULT_OPERATION_TIMEOUT
from funcatron_wf.workers.serving import DRAIN_TIMEOUT

# seconds a stopped worker gets beyond its drain, to exit, before it is killed
EXIT_MARGIN = 5.0
# a Tron's (its tasks take milliseconds; a Runner's follows its Func: Pool.stop_grace)
TRON_STOP_GRACE = DRAIN_TIMEOUT.total_seconds() + EXIT_MARGIN


@dataclass(frozen=True)
class Pool:
    """Runners of one Func version: ``replicas`` processes (or containers)
    serving ``task_queue`` with the bundle ``sha``, each taking
    ``concurrency`` calls at once (a pool whose concurrency changes gets
    new Runners; the old ones drain). A Runner stopped drains for up to
    ``drain`` seconds (the version's longest call): the substrate lets it,
    and kills it only ``stop_grace`` after the signal."""

    func: str
    sha: str
    task_queue: str
    replicas: int
    concurrency: int = DEFAULT_CALL_CONCURRENCY
    drain: float = field(default=DEFAULT_OPERATION_TIMEOUT, compare=False)

    @property
    def stop_grace(self) -> float:
        return self.drain + EXIT_MARGIN


def runner_args(pool: Pool) -> list[str]:
    """What a pool's Runner is told after `funcatron-wf runner`."""
    return ["--bundle", pool.sha, "--concurrency", str(pool.concurrency)]


class Substrate(Protocol):
    async def apply(self, pool: Pool) -> None:
        """Create the pool, or set its size, or replace its Runners with
        ones of the pool's concurrency."""
        ...

    async def remove(self, func: str, sha: str) -> None:
        """Remove the pool: its Runners stop polling, finish what they hold, exit."""
        ...

    async def pools(self) -> list[Pool]:
        """The pools that exist now, each with its current size and concurrency."""
        ...

    async def trons(self) -> int | None:
        """How many Trons run now; None: this substrate cannot size them."""
        ...

    async def size_trons(self, replicas: int) -> None:
        """Start Trons, or stop some (they finish their tasks first)."""
        ...
