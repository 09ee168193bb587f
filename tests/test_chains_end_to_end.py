"""Chains end to end through the real `funcatron-wf dev` (nginx + Lua,
Temporal, Tron, Runner, a RabbitMQ queue source): the examples' chains
(a pipeline, a fan-out/fan-in with a condition and a detached step, a
forward to another Func) and a test Func folder whose steps record each
call, to count runs across a Runner SIGKILL. Tests run in file order."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pika
import pytest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from funcatron_wf.engine.chain_run import DetachedStepWorkflow
from funcatron_wf.engine.request_workflow import FastRequestWorkflow, RoutedRequestWorkflow
from tests.conftest import EXAMPLES, REPO, problem_document
from tests.dev_process import FUNCATRON, DevProcess, running

FAULTS = REPO / "tests" / "funcs" / "chain_faults"
SHOP = {"host": "shop.local"}
CART = {"items": [{"sku": "apple", "quantity": 3}, {"sku": "pear", "quantity": 1}]}


@pytest.fixture(scope="module")
def calls_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chains") / "calls.txt"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, calls_file: Path) -> Iterator[DevProcess]:
    log = tmp_path_factory.mktemp("dev") / "dev.log"
    folders = [EXAMPLES / "shop", EXAMPLES / "inventory", FAULTS]
    env = {"CHAIN_TEST_CALLS": str(calls_file), "FUNCATRON_HEARTBEAT_TIMEOUT": "2"}
    with running(DevProcess(folders, log, env=env, extra=["--queue", "checkout"])) as process:
        yield process


@pytest.fixture(scope="module")
def http(dev: DevProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dev.url, timeout=60) as client:
        yield client


def test_dev_prints_each_chain_with_its_steps(dev: DevProcess) -> None:
    output = dev.output()
    assert "POST    shop.local/checkout -> chain checkout" in output
    assert (
        "chain checkout: quote=shop:pricing.quote -> [stock=inventory:stock.reserve | "
        "risk=shop:risk.score] -> audit=shop:audit.record (detached) -> "
        "accept=shop:orders.accept (when steps.risk.score < `0.8`)"
    ) in output


def test_a_pipeline_hands_each_reply_to_the_next_step(http: httpx.Client) -> None:
    response = http.post(
        "/wordcount",
        headers={**SHOP, "content-type": "text/plain"},
        content="The cat; the HAT, the end.",
    )
    assert response.status_code == 200
    assert response.json() == {"the": 3, "cat": 1, "hat": 1, "end": 1}


def test_fan_out_fan_in_shapes_bodies_and_arguments_and_the_result(http: httpx.Client) -> None:
    response = http.post("/checkout", headers=SHOP, json={**CART, "currency": "USD"})
    request_id = response.headers["x-request-id"]
    assert response.status_code == 201  # the last step's status: orders.accept's 201
    assert (
        response.json()
        == {
            "order": {
                "order_id": f"o-{request_id[:12]}",
                "total": 3 * 50 + 70,
                "currency": "USD",  # args: {currency: "body.currency || 'EUR'"}
                "reservation": f"r-{request_id[:12]}",  # from the parallel branch
            },
            "total": 220,
            "currency": "USD",
            "risk": 0.1,
        }
    )


def test_a_false_condition_skips_its_step(http: httpx.Client) -> None:
    response = http.post(
        "/checkout", headers=SHOP, json={"items": [{"sku": "piano", "quantity": 1}]}
    )
    assert response.status_code == 200
    assert response.json() == {"order": None, "total": 250000, "currency": "EUR", "risk": 0.9}


async def test_a_detached_step_runs_on_after_the_reply(
    dev: DevProcess, http: httpx.Client, calls_file: Path
) -> None:
    response = http.post("/detached", headers={"host": "faults.local"}, json={})
    assert (response.status_code, response.json()) == (200, {"attempt": 1})
    request_id = response.headers["x-request-id"]
    client = await Client.connect(dev.temporal_address)
    detached = client.get_workflow_handle(f"{request_id}-later")
    # answered while the detached step (3 s) still runs, in a workflow of its own
    assert (await detached.describe()).status == WorkflowExecutionStatus.RUNNING
    result = await detached.result()
    assert (result["status"], json.loads(result["body"]["data"])) == (200, {"audited": request_id})
    assert f"{request_id} later 1\n" in calls_file.read_text()


async def test_the_examples_audit_step_is_recorded(dev: DevProcess, http: httpx.Client) -> None:
    response = http.post("/checkout", headers=SHOP, json=CART)
    assert response.status_code == 201
    client = await Client.connect(dev.temporal_address)
    result = await client.get_workflow_handle(f"{response.headers['x-request-id']}-audit").result()
    assert json.loads(result["body"]["data"]) == {"recorded": {"total": 220, "risk": 0.1}}


def test_invoke_runs_a_chain_without_nginx(dev: DevProcess) -> None:
    """invoke starts a request that routes itself (RequestWorkflow), not one
    the front door routed: the same chain runs."""
    done = dev.invoke("POST", "/checkout", "--host", "shop.local", "--data", json.dumps(CART))
    assert done.returncode == 0
    assert done.stdout.startswith("HTTP 201\n")
    assert json.loads(done.stdout.strip().splitlines()[-1])["total"] == 220


def test_a_forward_from_code_is_answered_by_the_other_func(http: httpx.Client) -> None:
    response = http.get("/products/pear", headers=SHOP)
    assert (response.status_code, response.json()) == (200, {"sku": "pear", "in_stock": 200})


def test_a_forward_loop_is_answered_508_naming_the_path(http: httpx.Client) -> None:
    response = http.get("/loop", headers={"host": "faults.local"})
    assert response.status_code == 508
    assert problem_document(response)["detail"] == (
        "a forward loop: chain-faults:recording.ping -> chain-faults:recording.pong -> "
        "chain-faults:recording.ping"
    )


def test_a_step_that_answers_4xx_ends_the_chain_with_its_status(http: httpx.Client) -> None:
    response = http.post(
        "/checkout", headers=SHOP, json={"items": [{"sku": "kiwi", "quantity": 1}]}
    )
    document = problem_document(response)
    assert response.status_code == 422
    assert document["detail"] == "chain 'checkout': step 'quote' (shop:pricing.quote) answered 422"
    assert (document["chain"], document["step"], document["step_status"]) == (
        "checkout",
        "quote",
        422,
    )
    assert document["step_reply"]["detail"] == "no price for kiwi"

    response = http.post(
        "/checkout", headers=SHOP, json={"items": [{"sku": "piano", "quantity": 5}]}
    )
    assert response.status_code == 409  # from the other Func's branch
    assert problem_document(response)["step"] == "stock"


def test_a_step_that_fails_answers_500_naming_the_step(http: httpx.Client) -> None:
    response = http.post("/failing", headers={"host": "faults.local"}, json={})
    document = problem_document(response)
    assert response.status_code == 500
    assert document["step"] == "explode"
    assert document["step_reply"]["detail"] == "recording.boom raised RuntimeError"


def test_an_expression_that_fails_at_run_time_answers_500_naming_it(http: httpx.Client) -> None:
    response = http.post("/badexpr", headers={"host": "faults.local"}, json={})
    document = problem_document(response)
    assert response.status_code == 500
    assert document["detail"].startswith(
        "chain 'badexpr': step 'second''s when 'length(steps.first.attempt)' failed: "
    )


def test_a_queue_bound_to_a_chain(dev: DevProcess) -> None:
    found = re.search(r"AMQP:        (amqp://guest:guest@127\.0\.0\.1:\d+/) ", dev.output())
    assert found is not None, dev.output()
    connection = pika.BlockingConnection(pika.URLParameters(found.group(1)))
    try:
        channel = connection.channel()
        replies = channel.queue_declare("", exclusive=True).method.queue
        properties = pika.BasicProperties(
            reply_to=replies, correlation_id="cart-1", content_type="application/json"
        )
        channel.basic_publish("", "checkout", json.dumps(CART).encode(), properties)
        method, properties, body = next(channel.consume(replies, inactivity_timeout=60))
        assert method is not None, "no reply within 60 s"
    finally:
        connection.close()
    assert properties.headers["x-funcatron-status"] == 201
    assert json.loads(body)["total"] == 220


async def test_each_request_reads_at_a_glance_in_the_temporal_ui(
    dev: DevProcess, http: httpx.Client
) -> None:
    """Its workflow's one-line summary (Temporal's user metadata)."""
    client = await Client.connect(dev.temporal_address)

    async def summary(response: httpx.Response) -> str | None:
        handle = client.get_workflow_handle(response.headers["x-request-id"])
        return await (await handle.describe()).static_summary()

    chain = http.post("/checkout", headers=SHOP, json=CART)
    assert await summary(chain) == "POST shop.local/checkout -> chain checkout"
    single = http.get("/products/pear", headers=SHOP)
    assert re.fullmatch(
        r"GET shop.local/products/pear -> products.get_product \(shop@[0-9a-f]{12}\)",
        await summary(single) or "",
    )
    missing = http.get("/nowhere", headers=SHOP)
    assert await summary(missing) == "GET shop.local/nowhere -> 404"


def test_show_tells_a_request_from_its_history(dev: DevProcess, http: httpx.Client) -> None:
    request_id = http.post("/checkout", headers=SHOP, json=CART).headers["x-request-id"]
    done = subprocess.run(
        [FUNCATRON, "show", request_id, "--temporal", dev.temporal_address],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith(f"request {request_id} (RoutedRequest), ")
    assert "  POST shop.local/checkout  (from http)" in out
    assert re.search(r"routed to chain checkout of shop@[0-9a-f]{12}", out)
    for step in (
        "quote (shop:pricing.quote)",
        "stock (inventory:stock.reserve)",
        "accept (shop:orders.accept)",
    ):
        assert re.search(rf"checkout: step {re.escape(step)} +attempt 1  completed +\d+ ms", out), (
            out
        )
    assert "response: 201 application/json" in out
    as_json = subprocess.run(
        [FUNCATRON, "show", request_id, "--json", "--temporal", dev.temporal_address],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    story = json.loads(as_json.stdout)
    assert story["response"]["status"] == 201 and len(story["steps"]) == 4
    unknown = subprocess.run(
        [FUNCATRON, "show", "0" * 32, "--temporal", dev.temporal_address],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert unknown.returncode == 1 and f"no request {'0' * 32}" in unknown.stderr


async def test_chain_and_forward_histories_replay_deterministically(
    dev: DevProcess, http: httpx.Client
) -> None:
    """Chains run as workflow code (JMESPath, parallel branches, a child
    workflow, forwards): replaying their real histories catches any
    nondeterminism."""
    request_ids = [
        http.post("/checkout", headers=SHOP, json=CART).headers["x-request-id"],
        http.get("/products/apple", headers=SHOP).headers["x-request-id"],
        http.get("/loop", headers={"host": "faults.local"}).headers["x-request-id"],
    ]
    client = await Client.connect(dev.temporal_address)
    workflow_ids = [*request_ids, f"{request_ids[0]}-audit"]
    await client.get_workflow_handle(workflow_ids[-1]).result()
    replayer = Replayer(
        workflows=[RoutedRequestWorkflow, FastRequestWorkflow, DetachedStepWorkflow],
        workflow_runner=UnsandboxedWorkflowRunner(),
    )
    for workflow_id in workflow_ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        await replayer.replay_workflow(history)  # raises on any nondeterminism


def test_a_runner_killed_between_steps_runs_no_finished_step_twice(
    dev: DevProcess, http: httpx.Client, calls_file: Path
) -> None:
    answer: list[httpx.Response] = []
    thread = threading.Thread(
        target=lambda: answer.append(
            http.post("/recorded", headers={"host": "faults.local"}, json={"n": 1})
        )
    )
    thread.start()
    deadline = time.monotonic() + 30
    while " second 1\n" not in (calls_file.read_text() if calls_file.exists() else ""):
        assert time.monotonic() < deadline, "the second step never started"
        time.sleep(0.05)
    os.kill(dev.child_pids()["runner"], signal.SIGKILL)  # while the second step runs
    thread.join(60)
    response = answer[0]
    assert response.status_code == 200, response.text
    request_id = response.headers["x-request-id"]
    assert response.json() == {
        "first": {"attempt": 1},
        "second": {"attempt": 2, "got": {"first": {"attempt": 1}}},
    }
    calls = [line.split() for line in calls_file.read_text().splitlines()]
    assert [(step, attempt) for rid, step, attempt in calls if rid == request_id] == [
        ("first", "1"),  # finished before the kill: never run again
        ("second", "1"),
        ("second", "2"),  # retried on the restarted Runner
    ]
