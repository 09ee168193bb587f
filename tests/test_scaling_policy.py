"""The autoscaler's policy: `x-funcatron-scale` read from a spec (bad keys
and values refused, naming where), the size a backlog asks for, and the
stabilization window that holds a scale-down back."""

from __future__ import annotations

from pathlib import Path

import pytest

from funcatron_wf.deploy.backlog import Backlog
from funcatron_wf.deploy.scaling import Stabilizer, recommend
from funcatron_wf.engine.contracts import ScalePolicy
from funcatron_wf.engine.errors import SpecError
from funcatron_wf.engine.specs import load_spec
from tests.conftest import EXAMPLES

SPEC = """openapi: 3.0.3
info: {{title: t, version: '1'}}
{root}paths:
  /a:
    get:
      operationId: m.a
{a}      responses: {{'200': {{description: ok}}}}
  /b:
    get:
      operationId: m.b
{b}      responses: {{'200': {{description: ok}}}}
"""


def spec_with(tmp_path: Path, root: str = "", a: str = "", b: str = "") -> Path:
    path = tmp_path / "openapi.yaml"
    path.write_text(SPEC.format(
        root=f"x-funcatron-scale: {root}\n" if root else "",
        a=f"      x-funcatron-scale: {a}\n" if a else "",
        b=f"      x-funcatron-scale: {b}\n" if b else "",
    ))  # fmt: skip
    return path


def test_no_extension_is_the_default_policy() -> None:
    assert load_spec(EXAMPLES / "petstore" / "openapi.yaml").scale_policy() == ScalePolicy()


def test_the_root_and_operations_make_one_policy(tmp_path: Path) -> None:
    path = spec_with(
        tmp_path, root="{min: 0, max: 4, scale_down_after: 30}",
        a="{concurrency: 8, rate_limit: 5}", b="{target_backlog_age: 0.5, concurrency: 8}",
    )  # fmt: skip
    assert load_spec(path).scale_policy() == ScalePolicy(
        min=0, max=4, target_backlog_age=0.5, concurrency=8, rate_limit=5, scale_down_after=30
    )


@pytest.mark.parametrize(
    ("where", "value", "problem"),
    [
        ("root", "{mni: 1}", "the spec's root: x-funcatron-scale: mni: unknown key"),
        ("a", "{concurrency: 0}", "GET /a: x-funcatron-scale: concurrency: Input should be greater than or equal to 1"),
        ("root", "{min: 5, max: 2}", "x-funcatron-scale: min (5) is above max (2)"),
        ("root", "3", "the spec's root: x-funcatron-scale must be a mapping of min, max,"),
        ("a", "{rate_limit: fast}", "GET /a: x-funcatron-scale: rate_limit: Input should be a valid number"),
    ],
)  # fmt: skip
def test_a_bad_extension_is_refused_naming_where(
    tmp_path: Path, where: str, value: str, problem: str
) -> None:
    path = spec_with(tmp_path, **{where: value})
    with pytest.raises(SpecError) as caught:
        load_spec(path).scale_policy()
    assert str(caught.value).startswith(str(path)) and problem in str(caught.value)


def test_bounds_split_between_the_root_and_an_operation_are_checked_together(
    tmp_path: Path,
) -> None:
    path = spec_with(tmp_path, root="{max: 20}", a="{min: 12}")
    assert (load_spec(path).scale_policy().min, load_spec(path).scale_policy().max) == (12, 20)


def test_a_rate_limited_queue_does_not_ask_for_more_runners() -> None:
    limited = ScalePolicy(min=1, max=20, target_backlog_age=1.0, concurrency=10, rate_limit=5)
    held = Backlog(count=200, age=30.0, add_rate=50, dispatch_rate=5, pollers=1, rate_limited=True)
    decided = recommend(limited, held, 1, 0.2)
    assert decided.replicas == 1 and "held by its rate limit" in decided.reason


def test_two_operations_disagreeing_on_a_key_are_refused(tmp_path: Path) -> None:
    path = spec_with(tmp_path, a="{concurrency: 8}", b="{concurrency: 16}")
    with pytest.raises(SpecError, match="concurrency is 8 on GET /a and 16 on GET /b"):
        load_spec(path).scale_policy()


def backlog(count: int = 0, age: float = 0.0, add_rate: float = 0.0) -> Backlog:
    return Backlog(count=count, age=age, add_rate=add_rate, dispatch_rate=add_rate, pollers=1)


POLICY = ScalePolicy(min=1, max=20, target_backlog_age=1.0, concurrency=10)


def test_an_idle_pool_wants_its_minimum_and_zero_when_allowed() -> None:
    assert recommend(POLICY, backlog(), 5, 0.2).replicas == 1
    assert recommend(ScalePolicy(min=0), backlog(), 1, None).replicas == 0


def test_arrivals_and_service_time_give_the_runners_to_keep_up() -> None:
    # 100 calls/s of 200 ms, 10 at once per Runner: 50 calls/s each -> 2 Runners
    assert recommend(POLICY, backlog(add_rate=100), 1, 0.2).replicas == 2
    # and 100 waiting, to clear within 1 s at 50/s each: 2 more
    decided = recommend(POLICY, backlog(count=100, age=0.5, add_rate=100), 2, 0.2)
    assert decided.replicas == 4
    assert "backlog 100" in decided.reason and "200 ms a call" in decided.reason


def test_a_backlog_older_than_the_target_asks_for_more_whatever_the_estimate() -> None:
    # no service time known yet: at least one more, up to double
    assert recommend(POLICY, backlog(count=3, age=5.0, add_rate=1), 3, None).replicas == 6
    assert recommend(POLICY, backlog(count=3, age=1.5, add_rate=1), 3, None).replicas == 5


def test_with_no_estimate_a_pool_keeping_up_wants_one_fewer() -> None:
    # the Trons: no service time; calls arrive and none waits
    assert recommend(POLICY, backlog(add_rate=50), 3, None).replicas == 2
    assert recommend(POLICY, backlog(count=2, age=0.2, add_rate=50), 3, None).replicas == 3


def test_calls_on_the_fast_path_count_though_the_queue_shows_none() -> None:
    # the queue is empty (the fast path runs calls in their workflow task),
    # but 25 run now, 10 at once per Runner: 3 Runners, not the minimum
    fast = backlog().with_fast_path(in_flight=25, rate=0.0)
    decided = recommend(POLICY, fast, 1, None)
    assert decided.replicas == 3 and "25 in flight" in decided.reason
    # their rate counts as arrivals: 100 calls/s of 200 ms -> 2 Runners
    assert recommend(POLICY, backlog().with_fast_path(in_flight=1, rate=100), 1, 0.2).replicas == 2
    # from zero, a call in flight holds one Runner
    assert recommend(ScalePolicy(min=0), backlog().with_fast_path(1, 0.0), 0, None).replicas == 1


def test_calls_waiting_at_zero_start_a_runner_and_max_bounds_it() -> None:
    assert recommend(ScalePolicy(min=0), backlog(count=1, age=0.1), 0, None).replicas == 1
    huge = recommend(POLICY, backlog(count=10_000, age=30, add_rate=1000), 4, 1.0)
    assert huge.replicas == 20 and "bounds 1..20" in huge.reason


def test_up_at_once_down_only_after_the_window() -> None:
    stabilizer = Stabilizer()
    assert stabilizer.decide(0.0, 2, 2, window=60) == 2
    assert stabilizer.decide(1.0, 8, 2, window=60) == 8  # up at once
    assert stabilizer.decide(2.0, 1, 8, window=60) == 8  # down: not before a whole window
    # the 8 wanted at t=1 held until t=2: within the window at 61.5, not at 62.5
    assert stabilizer.decide(61.5, 1, 8, window=60) == 8
    assert stabilizer.decide(62.5, 1, 8, window=60) == 1
    assert stabilizer.decide(63.0, 3, 1, window=60) == 3
    assert stabilizer.decide(100.0, 1, 3, window=60) == 3  # 3 wanted within the window


def test_a_size_holds_through_a_long_pass() -> None:
    """One pass may take seconds (pools starting): the size wanted before
    it holds until a later pass wants another."""
    stabilizer = Stabilizer()
    stabilizer.decide(0.0, 1, 1, window=10)
    assert stabilizer.decide(8.5, 8, 1, window=10) == 8
    # the next pass comes 10.5 s later: the 8 held all along, so not yet down
    assert stabilizer.decide(19.0, 2, 8, window=10) == 8
    assert stabilizer.decide(29.5, 2, 8, window=10) == 2
