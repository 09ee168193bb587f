"""The pytest plugin Func authors use (funcatron_wf/testing.py): the
``funcatron_serve`` fixture serves an example through the real pipeline."""

from __future__ import annotations

from funcatron_wf.testing import Case
from tests.conftest import EXAMPLES


def test_the_fixture_serves_a_func_with_its_spec_host(funcatron_serve) -> None:
    hello = funcatron_serve(EXAMPLES / "hello")
    assert funcatron_serve(EXAMPLES / "hello") is hello  # one stack per session
    reply = hello.get("/v1/greet/Ada")
    assert (reply.status_code, reply.json()) == (200, {"greeting": "Hello, Ada"})
    made = hello.post("/v1/greetings", json={"name": "Bo"})
    assert (made.status_code, made.json()) == (201, {"greeting": "Hello, Bo"})
    assert "GET    hello.local/v1/greet/Ada -> 200" in _eventually(hello.output, "greet/Ada ->")


def _eventually(read, text: str, timeout: float = 10.0) -> str:
    import time

    deadline = time.monotonic() + timeout
    while text not in (output := read()):
        assert time.monotonic() < deadline, output
        time.sleep(0.1)
    return output


def test_without_nginx_requests_run_through_temporal(funcatron_serve) -> None:
    hello = funcatron_serve(EXAMPLES / "hello", front=False)
    assert "HTTP front:  none (--no-front)" in hello.output()
    reply = hello.get("/v1/greet/Ada")
    assert (reply.status_code, reply.json()) == (200, {"greeting": "Hello, Ada"})
    assert len(reply.headers["x-request-id"]) == 32
    missing = hello.post("/v1/greetings", json={})
    assert missing.status_code == 400
    assert "'name' is a required property" in missing.json()["invalid_params"][0]["reason"]


def _case(name: str, greeting: str) -> Case:
    return Case.from_dict({
        "request_id": "c" * 32,
        "request": {"method": "GET", "host": "hello.local", "path": f"/v1/greet/{name}"},
        "response": {"status": 200, "content_type": "application/json",
                     "body": {"json": {"greeting": greeting}}},
    })  # fmt: skip


def test_captured_cases_replay_with_or_without_nginx(funcatron_serve) -> None:
    for hello in (
        funcatron_serve(EXAMPLES / "hello"),
        funcatron_serve(EXAMPLES / "hello", front=False),
    ):
        assert hello.replay(_case("Ada", "Hello, Ada")) == ""
        changed = hello.replay(_case("Ada", "Hi, Ada"))
        assert '-  "greeting": "Hi, Ada"' in changed and '+  "greeting": "Hello, Ada"' in changed
