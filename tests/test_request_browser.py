"""Finding, capturing and replaying requests, through the real `funcatron-wf
dev` (nginx + Lua, Temporal, Tron, Runner): the search attributes every
request carries (queried through Temporal's visibility API), `requests`,
`capture` with a sampled share, `capture export` and `replay` against an
edited Func. Tests run in file order (the capture test sets a share)."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from google.protobuf.json_format import MessageToDict
from temporalio.client import Client

from tests.conftest import EXAMPLES
from tests.dev_process import FUNCATRON, DevProcess, running

HELLO = {"host": "hello.local"}


@pytest.fixture(scope="module")
def hello_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("funcs") / "hello"
    shutil.copytree(EXAMPLES / "hello", folder)
    return folder


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, hello_copy: Path) -> Iterator[DevProcess]:
    log = tmp_path_factory.mktemp("dev") / "dev.log"
    with running(DevProcess([hello_copy], log)) as process:
        yield process


@pytest.fixture(scope="module")
def http(dev: DevProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dev.url, headers=HELLO, timeout=60) as client:
        yield client


def funcatron(dev: DevProcess, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [FUNCATRON, *args, "--temporal", dev.temporal_address],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    print(f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")  # shown on failure
    return done


async def visible(client: Client, query: str, count: int, timeout: float = 20.0) -> int:
    """How many workflows match, once at least ``count`` do (visibility lags)."""
    deadline = time.monotonic() + timeout
    while True:
        found = (await client.count_workflows(query)).count
        if found >= count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


async def test_every_request_carries_its_search_attributes(
    dev: DevProcess, http: httpx.Client
) -> None:
    client = await Client.connect(dev.temporal_address)
    ok = http.get("/v1/greet/Ada").headers["x-request-id"]
    failed = http.get("/v1/boom").headers["x-request-id"]
    unrouted = http.get("/v1/nowhere").headers["x-request-id"]
    refused = http.post("/v1/greetings", json={}).headers["x-request-id"]  # 400: no name
    later = http.get("/v1/greet/Bo", headers={"prefer": "respond-async"})
    assert later.status_code == 202
    invoked = dev.invoke("GET", "/v1/greet/Cy", "--host", "hello.local")  # routes in the workflow
    assert invoked.returncode == 0

    async def attributes(request_id: str) -> dict[str, object]:
        query = f"WorkflowId = '{request_id}' AND ExecutionStatus = 'Completed'"
        assert await visible(client, query, 1) == 1, f"{request_id} not listed as completed"
        found = [execution async for execution in client.list_workflows(query)]
        return {pair.key.name: pair.value for pair in found[0].typed_search_attributes}

    expected = {"FuncName": "hello", "Operation": "greetings.greet", "HttpStatus": 200}
    expected |= {"Host": "hello.local", "Path": "/v1/greet/Ada", "Source": "http"}
    assert (await attributes(ok)).items() >= expected.items()
    assert len(str((await attributes(ok))["FuncSha"])) == 64
    assert (await attributes(failed))["HttpStatus"] == 500
    assert (await attributes(unrouted)).items() >= {
        "HttpStatus": 404,
        "Path": "/v1/nowhere",
    }.items()
    assert "FuncName" not in await attributes(unrouted)  # no Func served it
    # answered at routing, but its route is a Func's: found by Func and operation
    expected = {"FuncName": "hello", "Operation": "greetings.compose", "HttpStatus": 400}
    assert (await attributes(refused)).items() >= expected.items()
    no_reply = await attributes(later.headers["x-request-id"])  # its continued run
    assert no_reply.items() >= {"FuncName": "hello", "HttpStatus": 200}.items()
    from_cli = "Source = 'cli' AND FuncName = 'hello' AND HttpStatus = 200"
    assert await visible(client, from_cli, 1) == 1
    # the UI's filter of the issue, through the visibility API
    assert await visible(client, "FuncName = 'hello' AND HttpStatus >= 500", 1) == 1


def test_requests_lists_recent_requests_with_filters(dev: DevProcess, http: httpx.Client) -> None:
    failed = http.get("/v1/boom").headers["x-request-id"]
    time.sleep(1.5)  # visibility lags a moment behind
    done = funcatron(
        dev, "requests", "--func", "hello", "--status", "5xx", "--since", "10m", "--json"
    )
    assert done.returncode == 0
    listed = [json.loads(line) for line in done.stdout.splitlines()]
    assert failed in {one["request_id"] for one in listed}
    assert {one["http_status"] for one in listed} == {500}
    assert all(one["func"] == "hello" and one["operation"] == "greetings.boom" for one in listed)
    table = funcatron(dev, "requests", "--limit", "3")
    assert table.returncode == 0 and "hello@" in table.stdout
    assert "Temporal UI query: WorkflowType IN" in table.stderr
    bad = funcatron(dev, "requests", "--status", "5x")
    assert bad.returncode == 2 and "'5x' is not a status like 404, 5xx or >=500" in bad.stderr
    bad = funcatron(dev, "requests", "--since", "yesterday")
    assert bad.returncode == 2 and "not a duration like 30s, 10m" in bad.stderr


async def test_a_tenth_captured_exported_and_replayed(
    dev: DevProcess, http: httpx.Client, hello_copy: Path, tmp_path: Path
) -> None:
    assert funcatron(dev, "capture", "hello", "0.1").returncode == 0
    started = time.time()
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(lambda n: http.get(f"/v1/greet/n{n}"), range(500)))
    assert {reply.status_code for reply in replies} == {200}
    client = await Client.connect(dev.temporal_address)
    since = f"StartTime > '{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(started - 1))}'"
    assert await visible(client, f"FuncName = 'hello' AND {since}", 500) >= 500
    captured = await visible(client, f"FuncName = 'hello' AND Captured = true AND {since}", 500, 2)
    assert 25 <= captured <= 75, f"{captured} of 500 captured at a share of 0.1"
    assert funcatron(dev, "capture", "hello", "off").returncode == 0

    cases = tmp_path / "cases.jsonl"
    export = funcatron(dev, "capture", "export", "hello", "-o", str(cases))
    assert export.returncode == 0, export.stderr
    lines = [json.loads(line) for line in cases.read_text().splitlines()]
    assert len(lines) == captured
    first = lines[0]
    assert first["func"] == "hello" and first["operation"] == "greetings.greet"
    assert first["request"]["method"] == "GET" and first["request"]["host"] == "hello.local"
    name = first["request"]["path"].rsplit("/", 1)[1]
    assert first["response"] == {
        "status": 200, "content_type": "application/json",
        "body": {"json": {"greeting": f"Hello, {name}"}},
    }  # fmt: skip

    assert funcatron(dev, "capture", "hello", "all").returncode == 0
    time.sleep(1.5)  # the Tron's view of the Registry is up to a second old
    same = funcatron(dev, "replay", str(cases), "--quiet")
    assert same.returncode == 0 and f"0 of {captured} replayed response(s) changed" in same.stderr
    replays = f"Source = 'replay' AND {since}"
    assert await visible(client, replays, captured) == captured  # listed as replays
    assert await visible(client, f"{replays} AND Captured = true", 1, 1) == 0  # never captured
    assert funcatron(dev, "capture", "hello", "off").returncode == 0

    greetings = hello_copy / "greetings.py"
    greetings.write_text(greetings.read_text().replace('f"Hello, {name}"', 'f"Hi, {name}"'))
    edited = funcatron(dev, "replay", str(cases), "--to", str(hello_copy), "--quiet")
    assert edited.returncode == 1
    assert f"{captured} of {captured} replayed response(s) changed" in edited.stderr
    assert f'-  "greeting": "Hello, {name}"' in edited.stdout
    assert f'+  "greeting": "Hi, {name}"' in edited.stdout

    one = funcatron(dev, "replay", first["request_id"])  # the dev stack reloaded the edit
    assert one.returncode == 1 and f"CHANGED GET hello.local/v1/greet/{name}" in one.stdout


def test_capture_refuses_what_it_cannot_do(dev: DevProcess, tmp_path: Path) -> None:
    share = funcatron(dev, "capture", "hello", "2")
    assert share.returncode == 2 and "'2' is not all, off, a share like 0.1" in share.stderr
    unknown = funcatron(dev, "capture", "nobody", "all")
    assert unknown.returncode == 1 and "nobody" in unknown.stderr
    cases = funcatron(dev, "replay", "/no/such/cases.jsonl")
    assert cases.returncode == 1 and "/no/such/cases.jsonl: cannot read it" in cases.stderr
    nowhere = funcatron(dev, "capture", "export", "hello", "-o", "/no/such/dir/cases.jsonl")
    assert nowhere.returncode == 2 and "no folder /no/such/dir" in nowhere.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert "no cases in it" in funcatron(dev, "replay", str(empty)).stderr
    broken = tmp_path / "broken"
    shutil.copytree(EXAMPLES / "hello", broken)
    (broken / "greetings.py").write_text("def greet(:\n")
    (case,) = [tmp_path / "one.jsonl"]
    case.write_text(json.dumps({"request_id": "a" * 32, "request": {"method": "GET",
        "host": "hello.local", "path": "/v1/greet/x"}, "response": {"status": 200}}) + "\n")  # fmt: skip
    refused = funcatron(dev, "replay", str(case), "--to", str(broken))
    assert refused.returncode == 1 and "cannot serve" in refused.stderr
    assert "SyntaxError" in refused.stderr and "Traceback" not in refused.stderr


async def test_the_temporal_ui_shows_json_bodies_as_json(
    dev: DevProcess, http: httpx.Client
) -> None:
    """dev's UI is given the Tron's codec, which answers the browser's calls."""
    settings = httpx.get(f"http://127.0.0.1:{dev.temporal_ui_port}/api/v1/settings").json()
    endpoint = settings["Codec"]["Endpoint"]
    assert endpoint.endswith("/_funcatron/codec")
    request_id = http.post("/v1/greetings", json={"name": "Ada", "salutation": "Hi"}).headers[
        "x-request-id"
    ]
    client = await Client.connect(dev.temporal_address)
    history = await client.get_workflow_handle(request_id).fetch_history()
    stored = MessageToDict(history.events[0].workflow_execution_started_event_attributes.input)
    ui = {"origin": f"http://localhost:{dev.temporal_ui_port}"}
    preflight = httpx.options(
        f"{endpoint}/decode",
        headers={**ui, "access-control-request-method": "POST",
                 "access-control-request-headers": "content-type,x-namespace"},
    )  # fmt: skip
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"  # no credentials needed
    assert "x-namespace" in preflight.headers["access-control-allow-headers"]
    decoded = httpx.post(
        f"{endpoint}/decode", json=stored, headers={**ui, "x-namespace": "default"}
    )
    assert decoded.status_code == 200
    routed = json.loads(base64.b64decode(decoded.json()["payloads"][0]["data"]))
    assert routed["request"]["body"] == {
        "encoding": "json",
        "data": {"name": "Ada", "salutation": "Hi"},
    }
    bad = httpx.post(f"{endpoint}/decode", content=b"[1, 2]", headers=ui)
    assert bad.status_code == 400
