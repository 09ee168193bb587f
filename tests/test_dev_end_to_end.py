"""End to end through the real `funcatron-wf dev`: real nginx + Lua, the real
Temporal dev server, real Tron and Runner worker processes. Tests run in file
order; the last one presses Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Iterator

import httpx
import pika
import pytest
from temporalio.client import Client, WorkflowExecutionStatus

from tests.client_loop import answers_while, assert_rode_it_out
from tests.conftest import EXAMPLES, problem_document
from tests.dev_process import DevProcess, pid_alive, running

REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
QUEUE = "greetings"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    log = tmp_path_factory.mktemp("dev") / "dev.log"
    folders = [EXAMPLES / "hello", EXAMPLES / "petstore"]
    with running(DevProcess(folders, log, extra=["--queue", QUEUE])) as process:
        yield process


@pytest.fixture(scope="module")
def http(dev: DevProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dev.url, timeout=30) as client:
        yield client


def test_dev_prints_the_front_and_temporal_ui_urls(dev: DevProcess) -> None:
    output = dev.output()
    assert f"HTTP front:  http://127.0.0.1:{dev.port}" in output
    assert f"Temporal UI: http://127.0.0.1:{dev.temporal_ui_port}" in output


def test_get_with_path_parameter_swagger2(http: httpx.Client) -> None:
    response = http.get("/v1/greet/Ada", headers={"host": "hello.local"})
    assert response.status_code == 200
    assert response.json() == {"greeting": "Hello, Ada"}
    assert response.headers["content-type"] == "application/json"
    assert REQUEST_ID.match(response.headers["x-request-id"])


def test_dev_prints_a_line_per_request_and_a_ui_link_for_a_5xx(
    dev: DevProcess, http: httpx.Client
) -> None:
    ok = http.get("/v1/greet/Line", headers={"host": "hello.local"}).headers["x-request-id"]
    failed = http.get("/v1/boom", headers={"host": "hello.local"}).headers["x-request-id"]
    deadline = time.monotonic() + 10
    while f"ms  {failed}" not in dev.output():  # the request's line, not the Runner's log
        assert time.monotonic() < deadline, dev.output()
        time.sleep(0.1)
    output = dev.output()
    assert re.search(
        rf"\d\d:\d\d:\d\d GET    hello.local/v1/greet/Line -> 200 in \d+ ms  {ok}", output
    )
    ui = f"http://127.0.0.1:{dev.temporal_ui_port}/namespaces/default/workflows/{failed}"
    assert re.search(rf"GET    hello.local/v1/boom -> 500 in \d+ ms  {failed}\n +{ui}", output)


def test_post_with_json_body_swagger2(http: httpx.Client) -> None:
    response = http.post(
        "/v1/greetings", headers={"host": "hello.local"}, json={"name": "Bo", "salutation": "Hi"}
    )
    assert (response.status_code, response.json()) == (201, {"greeting": "Hi, Bo"})


def test_post_then_get_openapi3(http: httpx.Client) -> None:
    created = http.post(
        "/api/pets", headers={"host": "pets.local"}, json={"name": "Rex", "tag": "dog"}
    )
    assert created.status_code == 201
    pet = created.json()
    assert created.headers["location"] == f"/api/pets/{pet['id']}"
    fetched = http.get(created.headers["location"], headers={"host": "pets.local"})
    assert (fetched.status_code, fetched.json()) == (
        200,
        {"id": pet["id"], "name": "Rex", "tag": "dog"},
    )


def test_unknown_route_is_404_json_with_request_id(http: httpx.Client) -> None:
    response = http.get("/v1/nowhere", headers={"host": "hello.local"})
    assert response.status_code == 404
    assert (
        problem_document(response)["detail"]
        == "no Func serves GET /v1/nowhere on host 'hello.local'"
    )


def test_unknown_host_is_404(http: httpx.Client) -> None:
    assert http.get("/v1/greet/Ada", headers={"host": "elsewhere.local"}).status_code == 404


def test_raising_function_is_500_and_the_runner_survives(
    dev: DevProcess, http: httpx.Client
) -> None:
    response = http.get("/v1/boom", headers={"host": "hello.local"})
    assert response.status_code == 500
    document = problem_document(response)
    assert document["detail"] == "greetings.boom raised RuntimeError"
    assert "this Func always fails" in document["traceback"]  # dev mode shows it
    assert pid_alive(dev.child_pids()["runner"])
    assert http.get("/v1/greet/Again", headers={"host": "hello.local"}).status_code == 200


async def test_the_request_is_a_workflow_under_its_x_request_id(
    dev: DevProcess, http: httpx.Client
) -> None:
    response = http.get("/v1/greet/Temporal", headers={"host": "hello.local"})
    request_id = response.headers["x-request-id"]
    client = await Client.connect(dev.temporal_address)
    handle = client.get_workflow_handle(request_id)
    description = await handle.describe()
    # routed by the Tron's front door before it started (no routing step
    # inside), then run by a Runner on the fast path: the operation is the
    # one local activity in it, and no activity task went through the server
    assert description.workflow_type == "FastRequest"
    assert description.status == WorkflowExecutionStatus.COMPLETED
    result = await handle.result()
    assert result["status"] == 200
    assert json.loads(result["body"]["data"]) == {"greeting": "Hello, Temporal"}
    events = [event async for event in handle.fetch_history_events()]
    markers = [e for e in events if e.HasField("marker_recorded_event_attributes")]
    assert len(markers) == 1 and b"greet" in markers[0].SerializeToString()
    assert not any(e.HasField("activity_task_scheduled_event_attributes") for e in events)


def test_the_tron_front_door_is_not_reachable_from_the_public_listener(
    http: httpx.Client,
) -> None:
    response = http.post("/_front_door/requests", json={})
    assert response.status_code == 404


def test_temporal_http_api_is_not_reachable_from_the_public_listener(http: httpx.Client) -> None:
    response = http.get("/_temporal/api/v1/namespaces/default/workflows")
    assert response.status_code == 404
    assert "executions" not in response.text


def test_invoke_runs_a_request_without_nginx(dev: DevProcess) -> None:
    done = dev.invoke("GET", "/v1/greet/Bob", "--host", "hello.local")
    assert done.returncode == 0
    assert done.stdout.startswith("HTTP 200\n")
    assert done.stdout.rstrip().endswith('{"greeting": "Hello, Bob"}')


def test_invoke_with_json_data(dev: DevProcess) -> None:
    done = dev.invoke("POST", "/api/pets", "--host", "pets.local", "--data", '{"name": "Tom"}')
    assert done.returncode == 0
    assert done.stdout.startswith("HTTP 201\n")
    assert json.loads(done.stdout.strip().splitlines()[-1])["name"] == "Tom"


def test_invoke_exits_1_on_an_error_status(dev: DevProcess) -> None:
    done = dev.invoke("GET", "/v1/nowhere", "--host", "hello.local")
    assert done.returncode == 1
    assert done.stdout.startswith("HTTP 404\n")


def test_invoke_refuses_malformed_json_data(dev: DevProcess) -> None:
    done = dev.invoke("POST", "/api/pets", "--host", "pets.local", "--data", "{nope")
    assert done.returncode == 2
    assert "Invalid value for --data: not valid JSON" in done.stderr


def test_dev_runs_a_queue_source_on_a_broker_of_its_own(dev: DevProcess) -> None:
    found = re.search(r"AMQP:        (amqp://guest:guest@127\.0\.0\.1:\d+/) ", dev.output())
    assert found is not None, dev.output()
    connection = pika.BlockingConnection(pika.URLParameters(found.group(1)))
    try:
        channel = connection.channel()
        replies = channel.queue_declare("", exclusive=True).method.queue
        channel.basic_publish(
            "",
            QUEUE,
            b"",
            pika.BasicProperties(
                reply_to=replies,
                correlation_id="c-1",
                headers={
                    "x-funcatron-host": "hello.local",
                    "x-funcatron-method": "GET",
                    "x-funcatron-path": "/v1/greet/Queue",
                },
            ),
        )
        method, properties, body = next(channel.consume(replies, inactivity_timeout=60))
        assert method is not None, "no reply within 60 s"
    finally:
        connection.close()
    assert properties.correlation_id == "c-1"
    assert properties.headers["x-funcatron-status"] == 200
    assert json.loads(body) == {"greeting": "Hello, Queue"}


def test_dev_restarts_a_runner_or_tron_that_dies_and_keeps_serving(
    dev: DevProcess, http: httpx.Client
) -> None:
    for name in ("runner", "tron"):
        pid = dev.child_pids()[name]
        os.kill(pid, signal.SIGKILL)  # as a crashing Func or the OOM killer would
        deadline = time.monotonic() + 60
        while dev.child_pids()[name] == pid:
            assert time.monotonic() < deadline, dev.output()
            time.sleep(0.1)
        assert f"{name} (pid {pid}) was killed by SIGKILL; restarting it" in dev.output()
        response = http.get("/v1/greet/Again", headers={"host": "hello.local"})
        assert (response.status_code, response.json()) == (200, {"greeting": "Hello, Again"})


def test_requests_in_flight_ride_out_a_tron_kill_within_seconds(dev: DevProcess) -> None:
    """Four clients in a loop, the Tron SIGKILLed: every request is answered
    200, none waits longer than a few seconds (it was 10-12 s while a dead
    Tron's sticky queue and eagerly handed task held requests for Temporal's
    10 s defaults; bench/failover.py measures it: about 2.5 s on this machine)."""

    def kill_the_tron() -> None:
        time.sleep(2)
        os.kill(dev.child_pids()["tron"], signal.SIGKILL)
        time.sleep(8)

    answers = answers_while(dev.url, "hello.local", "/v1/greet/Loop", kill_the_tron)
    assert_rode_it_out(answers, slow=6)


def test_ctrl_c_stops_everything_it_started(dev: DevProcess) -> None:
    children = dev.child_pids()
    assert set(children) == {
        "temporal", "tron", "runner", "runner-standby", "nginx", "epmd", "rabbitmq",
        f"source-{QUEUE}",
    }  # fmt: skip
    assert all(pid_alive(pid) for pid in children.values())
    assert dev.interrupt() == 0
    still_running = {name: pid for name, pid in children.items() if pid_alive(pid)}
    assert still_running == {}
    for name, pid in children.items():
        assert f"stopped {name} (pid {pid})" in dev.output()
