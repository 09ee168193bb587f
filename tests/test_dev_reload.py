"""Reload on save in the real `funcatron-wf dev`: a code change serves the
next requests, a spec change adds and removes routes, broken code is
reported in the terminal and in the reply and recovers when fixed, and a
request in flight finishes on the code it started with."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import write_func_folder
from tests.dev_process import DevProcess, running
from tests.wheels import make_wheel

SPEC = """openapi: 3.1.0
info: {title: live, version: '1'}
servers: [{url: 'http://live.local/'}]
paths:
  /word:
    get:
      operationId: live_ops.word
      responses: {'200': {description: the word}}
  /slow:
    get:
      operationId: live_ops.slow
      responses: {'200': {description: 'the word, after 3 s'}}
"""
CODE = """import time

WORD = "{word}"


def word():
    return {{"word": WORD}}


def slow():
    time.sleep(3)
    return {{"word": WORD}}


def extra():
    return {{"extra": WORD}}
"""
EXTRA_OPERATION = """  /extra:
    get:
      operationId: live_ops.extra
      responses: {'200': {description: the word again}}
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reload")
    return write_func_folder(root / "live", SPEC, {"live_ops.py": CODE.format(word="one")})


@pytest.fixture(scope="module")
def dev(folder: Path) -> Iterator[DevProcess]:
    wheels = folder.parent / "wheels"
    make_wheel(wheels, "pinned", "2.0")
    # pip's own settings: requirements come from these wheels, not an index
    env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
    with running(DevProcess([folder], folder.parent / "dev.log", env=env)) as process:
        yield process


@pytest.fixture(scope="module")
def http(dev: DevProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dev.url, headers={"host": "live.local"}, timeout=30) as client:
        yield client


def within(seconds: float, check: Callable[[], bool]) -> float:
    """How long until ``check()`` held (asserting it did within ``seconds``)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, f"not within {seconds} s"
        time.sleep(0.05)
    return time.monotonic() - started


def save_code(folder: Path, word: str) -> None:
    (folder / "live_ops.py").write_text(CODE.format(word=word))


def test_a_code_change_serves_the_next_requests(folder: Path, http: httpx.Client) -> None:
    assert http.get("/word").json() == {"word": "one"}
    save_code(folder, "two")
    took = within(15, lambda: http.get("/word").json() == {"word": "two"})
    print(f"saved to served in {took:.2f} s")  # make bench measures it properly


def test_a_spec_change_adds_and_removes_routes(folder: Path, http: httpx.Client) -> None:
    assert http.get("/extra").status_code == 404
    (folder / "openapi.yaml").write_text(SPEC + EXTRA_OPERATION)
    within(15, lambda: http.get("/extra").status_code == 200)
    assert http.get("/extra").json() == {"extra": "two"}
    (folder / "openapi.yaml").write_text(SPEC)
    within(15, lambda: http.get("/extra").status_code == 404)


def test_broken_code_is_reported_and_recovers_when_fixed(
    folder: Path, dev: DevProcess, http: httpx.Client
) -> None:
    broken = CODE.format(word="three") + "\ndef broken(:\n"
    (folder / "live_ops.py").write_text(broken)
    within(15, lambda: http.get("/word").status_code == 500)
    reply = http.get("/word").json()
    where = f"SyntaxError: invalid syntax (live_ops.py, line {len(broken.splitlines())})"
    assert "the code of this operation does not load" in reply["detail"]
    assert where in reply["detail"]
    assert "Traceback" in reply["traceback"]  # dev mode
    assert where in dev.output()
    save_code(folder, "four")
    within(15, lambda: http.get("/word").json() == {"word": "four"})


def test_a_request_in_flight_finishes_on_the_code_it_started_with(
    folder: Path, http: httpx.Client
) -> None:
    answer: list[httpx.Response] = []
    request = threading.Thread(target=lambda: answer.append(http.get("/slow")))
    request.start()
    time.sleep(1)  # it runs now
    save_code(folder, "five")
    within(15, lambda: http.get("/word").json() == {"word": "five"})
    request.join(30)
    assert answer[0].json() == {"word": "four"}


def test_a_spec_mistake_keeps_the_version_that_serves(
    folder: Path, dev: DevProcess, http: httpx.Client
) -> None:
    (folder / "openapi.yaml").write_text("openapi: 3.1.0\npaths: 7\n")
    within(15, lambda: "not reloaded: " in dev.output())
    assert "invalid OpenAPI document" in dev.output()
    assert http.get("/word").json() == {"word": "five"}
    (folder / "openapi.yaml").write_text(SPEC)


def test_a_changed_requirements_file_installs_into_the_funcs_environment(
    folder: Path, dev: DevProcess, http: httpx.Client
) -> None:
    (folder / "requirements.txt").write_text("pinned==2.0\n")
    (folder / "live_ops.py").write_text(
        CODE.format(word="six") + "\n\ndef pinned_version():\n    import pinned\n\n"
        "    return {'pinned': pinned.VERSION}\n"
    )
    (folder / "openapi.yaml").write_text(
        SPEC + "  /pinned:\n    get:\n      operationId: live_ops.pinned_version\n"
        "      responses: {'200': {description: the dependency's version}}\n"
    )
    within(30, lambda: http.get("/pinned").status_code == 200)
    assert http.get("/pinned").json() == {"pinned": "2.0"}
    assert "installing requirements.txt" in dev.output()
