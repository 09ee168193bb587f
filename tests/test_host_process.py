"""A language host's process, supervised by the Runner's side of the
protocol (workers/host_process.py), with the real Node host: a call that
outlives its time kills the host and the next call starts a new one; a
closed host fails the calls it held; a host that dies before it is ready,
or breaks the protocol, fails its calls as host lost; a Func's stray
timer error or top-level output changes nothing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from funcatron_wf.engine.contracts import FuncCall, FuncRef, RequestEnvelope, Route
from funcatron_wf.engine.errors import FuncFolderError
from funcatron_wf.workers.host_process import HostProcess
from funcatron_wf.workers.hosts import HostCall, HostLost
from funcatron_wf.workers.node_host import check_node_folder, node_host

OPERATIONS = ("ops.pid", "ops.hang", "ops.garbage", "ops.timerThrows")
CODE = """
const fs = require("node:fs");
process.stdout.write("{ this is not the protocol\\n");  // at load: the Func's own output
setInterval(() => {}, 1000);  // a timer that would keep a --check alive
exports.pid = () => ({ pid: process.pid });
exports.hang = () => new Promise(() => {});
exports.garbage = () => { fs.writeSync(Number(process.env.FUNCATRON_HOST_FD), "[1, 2]\\n"); return {}; };
exports.timerThrows = () => { setTimeout(() => { throw new Error("later"); }, 1); return { pid: process.pid }; };
"""


def routes(*operations: str) -> list[Route]:
    return [Route("", "/", "GET", f"/{op}", op) for op in operations]


def call(operation: str) -> HostCall:
    request = RequestEnvelope(request_id="a" * 32, source="http", host="h", method="GET", path="/")
    return HostCall(FuncCall(request, FuncRef("f", "0" * 64, operation)))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "package.json").write_text('{"name": "f"}')
    (tmp_path / "ops.js").write_text(CODE)
    return tmp_path


@pytest.fixture
async def host(folder: Path) -> AsyncIterator[HostProcess]:
    started = node_host(folder, routes(*OPERATIONS))
    await started.start()
    yield started
    await started.close()


async def pid_of(host: HostProcess) -> int:
    reply = await host.call(call("ops.pid"))
    assert reply.response.body is not None
    return int(json.loads(reply.response.body.raw())["pid"])


async def test_a_call_past_its_time_kills_the_host_and_the_next_starts_another(
    host: HostProcess,
) -> None:
    first = await pid_of(host)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(host.call(call("ops.hang")), 0.5)
    assert host.pid is None  # killed, not left spinning
    assert await pid_of(host) != first


async def test_calls_held_when_the_host_closes_fail_as_host_lost(host: HostProcess) -> None:
    pending = asyncio.create_task(host.call(call("ops.hang")))
    await asyncio.sleep(0.3)
    await host.close()
    with pytest.raises(HostLost):
        await pending
    with pytest.raises(HostLost, match="closed"):
        await host.call(call("ops.pid"))


async def test_a_host_that_breaks_the_protocol_is_ended_and_its_calls_lost(
    host: HostProcess,
) -> None:
    first = await pid_of(host)
    with pytest.raises(HostLost):
        await host.call(call("ops.garbage"))
    assert await pid_of(host) != first


async def test_an_error_thrown_from_a_timer_leaves_the_host_serving(host: HostProcess) -> None:
    first = await pid_of(host)
    await host.call(call("ops.timerThrows"))
    await asyncio.sleep(0.2)
    assert await pid_of(host) == first


async def test_a_host_that_dies_before_it_is_ready_is_host_lost(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"name": "f"}')
    (tmp_path / "ops.js").write_text("process.exit(3);\nexports.pid = () => ({});\n")
    dying = node_host(tmp_path, routes("ops.pid"))
    started = time.monotonic()
    with pytest.raises(HostLost, match="did not load"):
        await dying.start()
    with pytest.raises(HostLost):  # the next call tries again, and says so again
        await dying.call(call("ops.pid"))
    assert time.monotonic() - started < 10
    await dying.close()


def test_check_mode_answers_whatever_the_code_prints_and_keeps_running(folder: Path) -> None:
    started = time.monotonic()
    check_node_folder(folder, routes(*OPERATIONS))  # no problems: no exception
    assert time.monotonic() - started < 10  # its interval timer did not keep it
    with pytest.raises(FuncFolderError, match="exports no function"):
        check_node_folder(folder, routes("ops.missing"))


async def test_a_value_json_cannot_carry_is_a_400_and_the_host_serves_on(
    host: HostProcess,
) -> None:
    first = await pid_of(host)
    odd = call("ops.pid")
    odd.call.parameters = {"x": float("nan")}  # openapi-core casts ?x=NaN to a float
    reply = await host.call(odd)
    assert (reply.response.status, reply.from_func) == (400, False)
    assert await pid_of(host) == first
