"""Hostile input through the real nginx front (`funcatron-wf dev`): each is
answered with a clear 4xx, never a 5xx from the platform or a hung worker,
and the platform serves normally after it (docs/threat-model.md)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from http.client import HTTPConnection

import httpx
import pytest

from funcatron_wf.workers.runaway_funcs import EXIT_STUCK, LOOP_STALL_LIMIT, STUCK_GRACE
from tests.conftest import REPO, eventually, problem_document
from tests.dev_process import DevProcess, running
from tests.listening import listening_addresses, process_tree

CONTRACT = REPO / "tests" / "funcs" / "contract"
HOST = "contract.local"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    log = tmp_path_factory.mktemp("hostile") / "dev.log"
    # with a queue: its broker's ports are part of the surface
    with running(DevProcess([CONTRACT], log, extra=["--queue", "hostile"])) as dev:
        yield dev


@pytest.fixture(scope="module")
def http(dev: DevProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dev.url, headers={"host": HOST}, timeout=30) as client:
        yield client


def raw_request(dev: DevProcess, request_line: str, headers: dict[str, str]) -> int:
    """The status of a request sent byte for byte (no client normalizing it)."""
    host, port = dev.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        lines = [request_line, *(f"{name}: {value}" for name, value in headers.items())]
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        answer = sock.makefile("rb").readline().decode("latin-1")
    return int(answer.split()[1])


def still_serving(http: httpx.Client) -> None:
    assert http.get("/c/returns/dict").json() == {"a": 1}


@pytest.mark.parametrize(
    "path",
    [
        "/_funcatron/requests/abc",  # not a whole request id
        "/_funcatron/requests/" + "0" * 31,
        "/_funcatron/requests/" + "g" * 32,  # not hex
        "/_funcatron/requests/" + "0" * 33,
        "/_funcatron/requests/%2e%2e/%2e%2e/etc/passwd",
    ],
)
def test_the_status_url_tells_nothing_without_a_whole_request_id(
    http: httpx.Client, path: str
) -> None:
    response = http.get(path)
    assert response.status_code == 404
    assert "workflowExecution" not in response.text and "history" not in response.text


@pytest.mark.parametrize(
    "target",
    [
        "/c/../../etc/passwd",
        "/c/%2e%2e/%2e%2e/etc/passwd",
        "/c/..%2f..%2fetc%2fpasswd",
        "//etc/passwd",
    ],
)
def test_path_traversal_in_a_path_is_a_404(
    dev: DevProcess, http: httpx.Client, target: str
) -> None:
    assert raw_request(dev, f"GET {target} HTTP/1.1", {"Host": HOST, "Connection": "close"}) in (
        400,
        404,
    )
    still_serving(http)


def test_huge_headers_are_refused_before_the_platform(dev: DevProcess, http: httpx.Client) -> None:
    status = raw_request(
        dev, "GET /c/returns/dict HTTP/1.1",
        {"Host": HOST, "X-Huge": "x" * 64 * 1024, "Connection": "close"},
    )  # fmt: skip
    assert 400 <= status < 500
    still_serving(http)


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"name": ', "application/json"),  # cut off
        (b'{"name": "\xff\xfe"}', "application/json"),  # not UTF-8
        (b"[1, 2, 3]", "application/json"),  # JSON, not the schema's object
        (b"<name>x</name>", "application/xml"),  # a type the operation does not take
        (b'{"name": "x"}', "text/html; charset=bogus"),
    ],
)
def test_bodies_that_break_the_operation_are_a_4xx_problem(
    http: httpx.Client, content: bytes, content_type: str
) -> None:
    response = http.post("/c/bodies", content=content, headers={"content-type": content_type})
    assert 400 <= response.status_code < 500, response.text
    problem_document(response)
    still_serving(http)


def test_a_slow_client_does_not_hold_up_others(dev: DevProcess, http: httpx.Client) -> None:
    """A client that sends half a request and stops: others are served meanwhile."""
    host, port = dev.url.removeprefix("http://").split(":")
    connection = HTTPConnection(host, int(port), timeout=30)
    connection.putrequest("POST", "/c/bodies")
    connection.putheader("Host", HOST)
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", "1000")
    connection.endheaders(b'{"name": ')  # and nothing more
    try:
        for _ in range(3):
            still_serving(http)
    finally:
        connection.close()


SLOWLORIS_CONNECTIONS = 400


def test_many_slow_clients_at_once_do_not_hold_up_others(
    dev: DevProcess, http: httpx.Client
) -> None:
    """Slowloris: hundreds of connections, each with half its headers or half
    its body sent and then nothing: others are served meanwhile, promptly."""
    host, port = dev.url.removeprefix("http://").split(":")
    half_sent = []
    try:
        for number in range(SLOWLORIS_CONNECTIONS):
            sock = socket.create_connection((host, int(port)), timeout=10)
            half_sent.append(sock)
            if number % 2:
                sock.sendall(f"GET /c/returns/dict HTTP/1.1\r\nHost: {HOST}\r\nX-Wait: ".encode())
            else:
                sock.sendall(
                    f"POST /c/bodies HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json"
                    '\r\nContent-Length: 1000\r\n\r\n{"name": '.encode()
                )
        for _ in range(5):
            started = time.monotonic()
            still_serving(http)
            assert time.monotonic() - started < 2
    finally:
        for sock in half_sent:
            sock.close()
    still_serving(http)


@pytest.mark.timeout(240)
@pytest.mark.parametrize(
    ("path", "replaced_within"),
    [
        ("/c/never-returns", STUCK_GRACE + 20),  # a thread that spins forever
        ("/c/blocks-the-loop", LOOP_STALL_LIMIT + 20),  # an async Func that blocks the loop
    ],
)
def test_a_func_that_never_returns_is_answered_504_and_its_runner_replaced(
    dev: DevProcess, http: httpx.Client, path: str, replaced_within: float
) -> None:
    runner = dev.child_pids()["runner"]
    # a blocked loop is answered by the next Runner, after the watchdog's limit
    response = http.get(path, timeout=replaced_within + 30)
    assert response.status_code == 504
    assert "did not answer within 1 s" in problem_document(response)["detail"]
    deadline = time.monotonic() + replaced_within
    while dev.child_pids()["runner"] == runner:
        assert time.monotonic() < deadline, f"runner {runner} still serves:\n{dev.output()}"
        time.sleep(0.5)
    assert f"runner (pid {runner}) exited with {EXIT_STUCK}; restarting it" in dev.output()
    eventually(lambda: http.get("/c/returns/dict").status_code == 200, "serving", timeout=60)
    still_serving(http)


@pytest.mark.timeout(240)
def test_a_call_that_ends_every_runner_it_reaches_ends_with_its_budget(
    http: httpx.Client,
) -> None:
    """An async Func that blocks the loop, after a first await, for longer
    than the watchdog allows: each Runner that takes the call over (the fast
    path's workflow task, lost with its Runner) is replaced, and once the
    budget is spent the next one answers 504 without calling, rather than
    the call going from Runner to Runner for good, each time with a whole
    budget."""
    budget = 40  # the operation's x-funcatron-timeout
    started = time.monotonic()
    response = http.get("/c/blocks-the-loop-later", timeout=budget + 3 * LOOP_STALL_LIMIT)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert f"did not answer within {budget} s" in problem_document(response)["detail"]
    # spent: the budget, then the watchdog ending the Runner that held the call
    assert elapsed < budget + LOOP_STALL_LIMIT + 30, elapsed
    eventually(lambda: http.get("/c/returns/dict").status_code == 200, "serving", timeout=60)


def test_every_port_the_platform_opens_is_on_loopback(dev: DevProcess) -> None:
    addresses = listening_addresses(process_tree(dev.popen.pid))
    ports = {int(address.rsplit(":", 1)[1]) for address in addresses}
    # the front, Temporal's gRPC, HTTP API and UI, the front door, a Runner's door, RabbitMQ
    assert {dev.port, dev.temporal_port, dev.temporal_http_port, dev.temporal_ui_port} <= ports
    assert len(addresses) >= 8, addresses
    exposed = {a for a in addresses if not a.startswith(("127.0.0.1:", "::1:", "[::1]:"))}
    assert not exposed, f"listening beyond loopback: {exposed}"


@pytest.mark.parametrize(
    "path",
    [
        "/_temporal/api/v1/namespaces",  # the engine's HTTP API, for Lua only
        "/_temporal_poll/api/v1/namespaces",
        "/_front_door/",  # the Tron's front door
        "/_front_door/start",
        "/_funcatron/codec/decode",  # the UI's codec is the front door's: no route here
    ],
)
def test_the_public_listener_serves_no_internal_location(http: httpx.Client, path: str) -> None:
    for method in ("GET", "POST"):
        response = http.request(method, path, content=b"{}")
        assert response.status_code == 404, (method, path, response.text[:300])
        assert "namespaces" not in response.text
        if not path.startswith("/_funcatron/"):
            # refused by nginx (`internal`) before the Lua front saw it
            assert "x-request-id" not in response.headers, response.headers
