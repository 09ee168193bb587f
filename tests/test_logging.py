"""Every log line about a request carries its id and its Func, with the
Func doing nothing: its own logging calls and prints, in the Runner; lines
are text in dev and JSON elsewhere; a Func's log level changes between two
requests with no restart (`funcatron-wf log-level`)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import REPO
from tests.dev_process import FUNCATRON, DevProcess, running

CHATTY = REPO / "tests" / "funcs" / "chatty"
HOST = {"host": "chatty.local"}


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    log = tmp_path_factory.mktemp("chatty") / "dev.log"
    with running(DevProcess([CHATTY], log)) as process:
        yield process


def chat(dev: DevProcess) -> str:
    """One request; its id, once dev printed its request line (all its log lines are out)."""
    request_id = httpx.get(f"{dev.url}/chat", headers=HOST, timeout=30).headers["x-request-id"]
    deadline = time.monotonic() + 10
    while f"ms  {request_id}" not in dev.output():
        assert time.monotonic() < deadline, dev.output()
        time.sleep(0.05)
    return request_id


def lines_of(dev: DevProcess, request_id: str) -> list[str]:
    return [line for line in dev.output().splitlines() if f"request={request_id}" in line]


def log_level(dev: DevProcess, level: str) -> None:
    done = subprocess.run(
        [FUNCATRON, "log-level", "chatty", level, "--temporal", dev.temporal_address],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    time.sleep(1.2)  # the Trons' refresh


def test_a_funcs_logging_and_prints_carry_its_request_and_version(dev: DevProcess) -> None:
    request_id = chat(dev)
    lines = lines_of(dev, request_id)
    func = re.escape("func=chatty@")
    assert any(
        re.search(rf"INFO chatty_ops: info line of {request_id} request={request_id} {func}", line)
        for line in lines
    ), lines
    assert any(
        re.search(
            rf"INFO func.stdout: printed line of {request_id} request={request_id} {func}", line
        )
        for line in lines
    ), lines
    assert not any("debug line" in line for line in lines)  # the Runner logs INFO


def test_a_funcs_log_level_changes_on_its_next_request(dev: DevProcess) -> None:
    log_level(dev, "DEBUG")
    debugged = chat(dev)
    assert any(
        f"DEBUG chatty_ops: debug line of {debugged}" in line for line in lines_of(dev, debugged)
    )
    log_level(dev, "WARNING")
    quiet = chat(dev)
    assert not any("info line" in line or "printed line" in line for line in lines_of(dev, quiet))
    log_level(dev, "default")
    again = chat(dev)
    assert any("info line" in line for line in lines_of(dev, again))


def test_outside_dev_lines_are_json(tmp_path) -> None:
    log = tmp_path / "dev.log"
    with running(DevProcess([CHATTY], log, env={"FUNCATRON_LOG_FORMAT": "json"})) as dev:
        request_id = chat(dev)
        records = [json.loads(line) for line in dev.output().splitlines() if line.startswith("{")]
    mine = [record for record in records if record.get("request_id") == request_id]
    assert {record["logger"] for record in mine} >= {"chatty_ops", "func.stdout"}
    assert all(record["func"].startswith("chatty@") for record in mine)
    assert {"time", "level", "message"} <= set(mine[0])
