"""JavaScript Funcs through the real `funcatron-wf dev` (nginx + Lua, the
Temporal dev server, a Runner whose Node host serves the Func): typed
parameters, bodies, async functions, HTTPError and thrown errors, log
lines with the request id, a host killed mid-request, a chain whose steps
are a JavaScript Func and a Python one, a reload on save; and a bundle
holding its npm dependencies, deployed on the local platform."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, problem_document
from tests.dev_process import FUNCATRON, DevProcess, running
from tests.test_platform import Platform, platform_up

FUNCS = REPO / "tests" / "funcs"
JS = {"host": "js.local"}


@pytest.fixture(scope="module")
def pid_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("node") / "host.pid"


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory, pid_file: Path) -> Iterator[DevProcess]:
    root = tmp_path_factory.mktemp("node-dev")
    log = root / "dev.log"
    js_calls = shutil.copytree(FUNCS / "js_calls", root / "js_calls")  # the reload test edits it
    folders = [js_calls, FUNCS / "js_chain"]
    env = {"JS_CALLS_PID_FILE": str(pid_file), "FUNCATRON_LOG_FORMAT": "json"}
    with running(DevProcess(folders, log, env=env)) as process:
        yield process


@pytest.fixture(scope="module")
def http(dev: DevProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dev.url, timeout=60) as client:
        yield client


def test_a_get_with_a_typed_parameter(http: httpx.Client) -> None:
    reply = http.get("/pets/1", params={"verbose": "true"}, headers=JS)
    assert reply.status_code == 200, reply.text
    pet = reply.json()
    assert pet == {"id": 1, "name": "Rex", "idType": "number",
                   "requestId": reply.headers["x-request-id"]}  # fmt: skip


def test_a_post_with_a_body_and_a_response_of_its_own(http: httpx.Client) -> None:
    reply = http.post("/pets", json={"name": "Tom"}, headers=JS)
    assert reply.status_code == 201, reply.text
    assert reply.json() == {"id": 2, "name": "Tom"}
    assert reply.headers["location"] == "/pets/2"


def test_an_async_function(http: httpx.Client) -> None:
    reply = http.get("/later", headers=JS)
    assert reply.status_code == 200
    assert reply.text == "answered after an await"
    assert reply.headers["content-type"].startswith("text/plain")


def test_a_thrown_http_error_is_its_status(http: httpx.Client) -> None:
    reply = http.get("/pets/99", headers=JS)
    assert reply.status_code == 404
    assert problem_document(reply)["detail"] == "no pet 99"


def test_a_thrown_error_is_a_500_with_the_request_id_and_the_stack_in_dev(
    http: httpx.Client,
) -> None:
    reply = http.get("/boom", headers=JS)
    assert reply.status_code == 500
    document = problem_document(reply)
    assert document["detail"] == "pets.boom raised Error"
    assert "the pets are loose" in document["traceback"]  # dev mode shows the stack
    assert "pets.js" in document["traceback"]


def test_a_log_line_carries_the_request_id(dev: DevProcess, http: httpx.Client) -> None:
    request_id = http.get("/pets/1", headers=JS).headers["x-request-id"]
    deadline = time.monotonic() + 10
    pattern = re.compile(rf'"message": "looking up pet 1".*"request_id": "{request_id}"')
    while not any(pattern.search(line) for line in dev.output().splitlines()):
        assert time.monotonic() < deadline, dev.output()[-3000:]
        time.sleep(0.2)


def test_a_host_killed_mid_request_is_restarted_and_the_request_retried(
    http: httpx.Client, pid_file: Path
) -> None:
    with ThreadPoolExecutor(1) as background:
        pending = background.submit(http.get, "/dies", headers=JS)
        deadline = time.monotonic() + 30
        while not pid_file.exists():
            assert time.monotonic() < deadline, "the first attempt never ran"
            time.sleep(0.1)
        killed = int(pid_file.read_text())
        os.kill(killed, signal.SIGKILL)  # the Node host that holds the call, by its pid
        reply = pending.result()
    assert reply.status_code == 200, reply.text
    answer = reply.json()
    assert answer["attempt"] == 2 and answer["pid"] != killed  # a new host took the retry
    assert http.get("/pets/1", headers=JS).status_code == 200  # and serves on


def test_a_call_that_spins_past_its_timeout_is_a_504_and_its_host_is_replaced(
    dev: DevProcess, http: httpx.Client
) -> None:
    reply = http.get("/hangs", headers=JS)
    assert reply.status_code == 504, reply.text
    deadline = time.monotonic() + 30
    while "later.hangs was cancelled: stopping the Node host" not in dev.output():
        assert time.monotonic() < deadline, dev.output()[-3000:]
        time.sleep(0.2)
    assert http.get("/pets/1", headers=JS).status_code == 200  # a new host serves on


def test_a_chain_of_a_javascript_step_and_a_python_step(http: httpx.Client) -> None:
    reply = http.post("/greet-loudly", json={"name": "Ada"}, headers={"host": "chain.local"})
    assert reply.status_code == 200, reply.text
    assert reply.json() == {"shouted": "HELLO, ADA!"}


def test_a_save_reloads_the_javascript_func(dev: DevProcess, http: httpx.Client) -> None:
    code = dev_folder(dev) / "later.mjs"
    code.write_text(code.read_text().replace("answered after an await", "answered after a reload"))
    deadline = time.monotonic() + 60
    while http.get("/later", headers=JS).text != "answered after a reload":
        assert time.monotonic() < deadline, dev.output()[-3000:]
        time.sleep(0.3)
    assert "reloaded js-calls" in dev.output()


def dev_folder(dev: DevProcess) -> Path:
    return dev.log_path.parent / "js_calls"


SHOUT_SPEC = """openapi: 3.0.3
info: {title: loud, version: "1"}
servers: [{url: "http://loud.local/"}]
paths:
  /loud/{word}:
    get:
      operationId: loud.loud
      parameters: [{name: word, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: "the word, shouted by a dependency"}}
"""


def test_a_bundle_holds_the_dependencies_and_a_deployed_javascript_func_serves(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "loud"
    (folder / "lib" / "shout").mkdir(parents=True)
    (folder / "lib" / "shout" / "package.json").write_text('{"name": "shout", "main": "index.js"}')
    (folder / "lib" / "shout" / "index.js").write_text(
        'exports.shout = (s) => s.toUpperCase() + "!";'
    )
    (folder / "package.json").write_text(json.dumps({
        "name": "loud", "version": "1.0.0",
        "dependencies": {"shout": "file:./lib/shout"},
        "devDependencies": {"only-for-tests": "file:../nowhere"},  # never installed
    }))  # fmt: skip
    (folder / "loud.js").write_text(
        'const { shout } = require("shout");\n'
        "exports.loud = ({ word }) => ({ loud: shout(word) });\n"
    )
    (folder / "openapi.yaml").write_text(SHOUT_SPEC)

    archive = tmp_path / "loud.tar.gz"
    bundled = subprocess.run(
        [FUNCATRON, "bundle", str(folder), "-o", str(archive)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bundled.returncode == 0, bundled.stderr
    with tarfile.open(archive) as tar:
        names = tar.getnames()
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
    assert "func/node_modules/shout/index.js" in names
    assert manifest["runtime"] == "javascript"
    assert not (folder / "node_modules").exists()  # npm ran on a copy

    with platform_up(Platform(tmp_path / "platform")) as platform:
        platform.run("deploy", str(folder))
        reply = httpx.get(
            f"http://127.0.0.1:{platform.port}/loud/hey", headers={"host": "loud.local"}, timeout=60
        )
        assert reply.status_code == 200, reply.text
        assert reply.json() == {"loud": "HEY!"}
