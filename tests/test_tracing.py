"""One trace per request, from the front to the Func, through the real
`funcatron-wf dev` exporting OTLP/HTTP (configured by the standard OTEL_*
variables) to a receiver in this test: its trace id is the request id, and
every span's parent is the span before it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest
from temporalio.client import Client

from tests.conftest import EXAMPLES, free_port
from tests.dev_process import FUNCATRON, DevProcess, running
from tests.otlp_receiver import ReceivedSpan, SpanSink, otlp_receiver


def otel_env(sink: SpanSink) -> dict[str, str]:
    """Traces on, exported to ``sink`` within 100 ms, by the standard variables."""
    return {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{sink.port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }


@pytest.fixture(scope="module")
def sink() -> Iterator[SpanSink]:
    with otlp_receiver(free_port()) as receiver:
        yield receiver


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, sink: SpanSink) -> Iterator[DevProcess]:
    log = tmp_path_factory.mktemp("dev") / "dev.log"
    port = sink.port
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with running(DevProcess([EXAMPLES / "hello"], log, env=env)) as process:
        yield process


def spans_of(
    sink: SpanSink, trace_id: str, *names: str, timeout: float = 20.0
) -> list[ReceivedSpan]:
    """The trace's spans once those ``names`` have arrived and each of them
    is linked up to the trace's root (each process exports its own, in its
    own batches, so a span's parent may arrive after the span)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spans = sink.of_trace(trace_id)
        arrived = [span for span in spans if span.name in names]
        if set(names) <= {span.name for span in arrived} and all(
            reaches_the_root(spans, span) for span in arrived
        ):
            return spans
        time.sleep(0.1)
    raise AssertionError(f"not all of {names} in trace {trace_id}: {sink.of_trace(trace_id)}")


def reaches_the_root(spans: list[ReceivedSpan], leaf: ReceivedSpan) -> bool:
    by_id = {span.span_id: span for span in spans}
    span: ReceivedSpan | None = leaf
    while span is not None and span.parent_id:
        span = by_id.get(span.parent_id)
    return span is not None


def ancestry(spans: list[ReceivedSpan], leaf: ReceivedSpan) -> list[str]:
    """The names from ``leaf`` up through its parents, as far as they were exported."""
    by_id = {span.span_id: span for span in spans}
    names, span = [], leaf
    while span is not None:
        names.append(span.name)
        span = by_id.get(span.parent_id)
    return names


def fast_path_request(dev: DevProcess) -> str:
    """A request's id once one has taken the fast path: the Trons learn of a
    new Runner's door within a second of its start, and until then requests
    take the usual path."""
    deadline = time.monotonic() + 15

    async def workflow_type(request_id: str) -> str:
        client = await Client.connect(dev.temporal_address)
        return (await client.get_workflow_handle(request_id).describe()).workflow_type

    with httpx.Client(base_url=dev.url, headers={"host": "hello.local"}, timeout=30) as http:
        while True:
            reply = http.get("/v1/greet/Ada")
            assert reply.status_code == 200
            request_id = reply.headers["x-request-id"]
            if asyncio.run(workflow_type(request_id)) == "FastRequest":
                return request_id
            assert time.monotonic() < deadline, "no request took the fast path"
            time.sleep(0.2)


def test_a_request_is_one_trace_from_front_to_func(dev: DevProcess, sink: SpanSink) -> None:
    request_id = fast_path_request(dev)
    # the fast path: the front door hands the request to a Runner's door,
    # which starts the workflow; the Func runs as its local activity
    spans = spans_of(
        sink, request_id, "func hello:greetings.greet", "RunActivity:greetings.greet",
        "StartActivity:greetings.greet", "StartWorkflow:FastRequest", "runner door",
        "front door", "RunWorkflow:FastRequest", "CompleteWorkflow:FastRequest",
    )  # fmt: skip
    func = next(span for span in spans if span.name == "func hello:greetings.greet")
    assert ancestry(spans, func) == [
        "func hello:greetings.greet",
        "RunActivity:greetings.greet",
        "StartActivity:greetings.greet",
        "StartWorkflow:FastRequest",
        "runner door",
        "front door",
    ]
    names = {span.name for span in spans}
    assert {"RunWorkflow:FastRequest", "CompleteWorkflow:FastRequest"} <= names, names
    front = next(span for span in spans if span.name == "front door")
    assert front.parent_id == ""  # the trace's root (the nginx front exports no span)
    assert front.service == "funcatron-tron" and func.service == "funcatron-runner"
    assert front.attributes["url.path"] == "/v1/greet/Ada"
    assert func.attributes["funcatron.request_id"] == request_id
    assert func.attributes["http.response.status_code"] == 200


def test_a_failing_func_shows_in_its_span(dev: DevProcess, sink: SpanSink) -> None:
    with httpx.Client(base_url=dev.url, headers={"host": "hello.local"}, timeout=30) as http:
        reply = http.get("/v1/boom")
    assert reply.status_code == 500
    spans = spans_of(sink, reply.headers["x-request-id"], "func hello:greetings.boom")
    func = next(span for span in spans if span.name == "func hello:greetings.boom")
    assert func.attributes["http.response.status_code"] == 500


def test_invoke_traces_under_the_request_id(dev: DevProcess, sink: SpanSink) -> None:
    done = subprocess.run(
        [FUNCATRON, "invoke", "GET", "/v1/greet/Bo", "--host", "hello.local",
         "--temporal", dev.temporal_address],
        env={**os.environ, **otel_env(sink)}, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    request_id = next(
        line.split(": ")[1] for line in done.stdout.splitlines() if line.startswith("x-request-id")
    )
    spans = spans_of(sink, request_id, "func hello:greetings.greet", "invoke")
    func = next(span for span in spans if span.name == "func hello:greetings.greet")
    assert ancestry(spans, func)[-2:] == ["StartWorkflow:RequestWorkflow", "invoke"]
    root = next(span for span in spans if span.name == "invoke")
    assert root.parent_id == ""


def test_off_unless_the_environment_asks_and_then_nothing_of_it_is_loaded() -> None:
    """Off, a process neither imports OpenTelemetry nor installs an interceptor."""
    probe = (
        "import sys; from funcatron_wf.engine import tracing, temporal_client;"
        "on = tracing.configure_tracing('probe');"
        "print(on, tracing.client_interceptors(), 'opentelemetry' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    off = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert off.stdout.split() == ["False", "[]", "False"], off.stderr
    disabled = {**env, "OTEL_TRACES_EXPORTER": "console", "OTEL_SDK_DISABLED": "true"}
    off = subprocess.run(
        [sys.executable, "-c", probe], env=disabled, capture_output=True, text=True
    )
    assert off.stdout.split() == ["False", "[]", "False"], off.stderr
    grpc = {
        **env,
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
    }
    refused = subprocess.run(
        [sys.executable, "-c", probe], env=grpc, capture_output=True, text=True
    )
    assert "funcatron-wf exports OTLP over http/protobuf" in refused.stderr
