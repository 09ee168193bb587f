"""How many Runners a pool wants, from its task queue's backlog and its
calls' service time (the autoscaler's policy; ScalePolicy says the
bounds). Pure: the autoscaler feeds it what it read, and logs what it
returns with the reasons.

Enough Runners to keep up with the calls arriving (arrival rate x
service time / calls per Runner, Little's law) and to clear what waits
within the target age; a backlog older than the target asks for more
whatever the estimate says (at least one more, up to double); with no
estimate, a pool where nothing waits wants one fewer. Up at once,
down only to the most the last ``scale_down_after`` seconds wanted, as
Kubernetes' HPA stabilizes a scale-down.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from funcatron_wf.deploy.backlog import Backlog
from funcatron_wf.engine.contracts import ScalePolicy


@dataclass(frozen=True)
class Recommendation:
    replicas: int
    reason: str  # the inputs that gave it, for the log and `ls`


def recommend(
    policy: ScalePolicy, backlog: Backlog, current: int, service_time: float | None
) -> Recommendation:
    """The pool's size for what the queue shows now (before stabilizing)."""
    if backlog.count == 0 and backlog.add_rate == 0 and backlog.in_flight == 0:
        return Recommendation(policy.min, "idle")
    seen = (
        f"backlog {backlog.count} (oldest {backlog.age:.1f}s), {backlog.add_rate:.1f} calls/s"
        + (f", {backlog.in_flight} in flight" if backlog.in_flight else "")
        + (f", {service_time * 1000:.0f} ms a call" if service_time else "")
    )
    wanted = current
    if service_time:
        per_runner = policy.concurrency / service_time  # calls a second one Runner serves
        keep_up = backlog.add_rate / per_runner
        clear = backlog.count / (per_runner * policy.target_backlog_age)
        wanted = math.ceil(keep_up + clear)
    elif backlog.count == 0:
        # no estimate (the Trons', or a version's first calls): nothing waits,
        # so one fewer, if the whole window agrees
        wanted = current - 1
    # the calls running now hold their Runners' slots (the fast path's
    # never show as a backlog: a full Runner turns the next one away)
    wanted = max(wanted, math.ceil(backlog.in_flight / policy.concurrency))
    if backlog.age > policy.target_backlog_age:
        behind = min(2.0, backlog.age / policy.target_backlog_age)
        wanted = max(wanted, current + 1, math.ceil(current * behind))
        seen += f", older than the {policy.target_backlog_age:g}s target"
    if policy.rate_limit is not None and service_time:
        # Temporal dispatches no more than the limit: Runners past what
        # serves it would wait too
        enough = max(1, math.ceil(policy.rate_limit * service_time / policy.concurrency))
        if wanted > enough:
            wanted = enough
            seen += ", held by its rate limit" if backlog.rate_limited else ", its rate limit"
    if backlog.count > 0 or backlog.add_rate > 0 or backlog.in_flight > 0:
        wanted = max(wanted, 1)  # calls wait: at least one Runner, even from zero
    bounded = min(max(wanted, policy.min), policy.max)
    if bounded != wanted:
        seen += f" (wanted {wanted}, bounds {policy.min}..{policy.max})"
    return Recommendation(bounded, seen)


class Stabilizer:
    """One pool's recent recommendations: a scale-up goes at once, a
    scale-down only to the largest size the window still wanted."""

    def __init__(self) -> None:
        self._recent: deque[tuple[float, int]] = deque()
        self._since: float | None = None  # the first recommendation seen

    def decide(self, now: float, wanted: int, current: int, window: float) -> int:
        if self._since is None:
            self._since = now
        self._recent.append((now, wanted))
        # each recommendation holds until the next one: keep the one in force
        # when the window starts (passes may be seconds apart while pools start)
        while len(self._recent) > 1 and self._recent[1][0] <= now - window:
            self._recent.popleft()
        if wanted >= current:
            return wanted
        if now - self._since < window:
            return current  # not a whole window seen yet: no scale-down on a guess
        return min(current, max(size for _, size in self._recent))
