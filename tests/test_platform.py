"""The local platform and the deploy lifecycle, as a user runs them: the
real `funcatron-wf up` (Temporal on a database file, a Tron, nginx, Runner
pools as supervised processes), then `deploy`, `rollback`, a canary,
`promote`, `down` and `up` again, under a steady loop of requests. Two
versions pin different versions of one dependency (vendored from wheels).
Tests run in file order."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.client_loop import answers_while
from tests.conftest import free_port, write_func_folder
from tests.dev_process import FUNCATRON, pid_alive
from tests.wheels import make_wheel

HOST = "versioned.local"
SPEC = f"""openapi: 3.0.3
info: {{title: versioned, version: '1'}}
servers: [{{url: 'http://{HOST}/'}}]
paths:
  /version:
    get:
      operationId: versions.get
      responses: {{'200': {{description: which code and which dependency answer}}}}
  /slow:
    get:
      operationId: versions.slow
      responses: {{'200': {{description: after 3 s}}}}
"""
CODE = """import time

import pinned


def get():
    return {{"code": "{code}", "pinned": pinned.VERSION}}


def slow():
    time.sleep(3)
    return {{"code": "{code}", "slow": True}}
"""


class Platform:
    def __init__(self, root: Path) -> None:
        self.state_dir = root / "state"
        self.port = free_port()
        self.ports = [
            "--port", str(self.port),
            "--temporal-port", str(free_port()),
            "--temporal-ui-port", str(free_port()),
            "--temporal-http-port", str(free_port()),
        ]  # fmt: skip
        self.wheels = root / "wheels"
        make_wheel(self.wheels, "pinned", "1.0")
        make_wheel(self.wheels, "pinned", "2.0")
        self.folders = {}
        for code, pin in (("v1", "1.0"), ("v2", "2.0")):
            folder = write_func_folder(
                root / code / "versioned", SPEC, {"versions.py": CODE.format(code=code)}
            )
            (folder / "requirements.txt").write_text(f"pinned=={pin}\n")
            self.folders[code] = folder

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [FUNCATRON, *args, "--state-dir", str(self.state_dir)],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        print(f"{args}: exit {done.returncode}\n{done.stdout}\n{done.stderr}")  # shown on failure
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def up(self) -> None:
        self.run("up", *self.ports)

    def deploy(self, code: str, *extra: str) -> str:
        done = self.run("deploy", str(self.folders[code]), "--wheels", str(self.wheels), *extra)
        return done.stdout.strip()

    def pid(self) -> int | None:
        try:
            return json.loads((self.state_dir / "platform.json").read_text())["pid"]
        except (OSError, ValueError):
            return None

    def log(self) -> str:
        return (self.state_dir / "platform.log").read_text(errors="replace")

    def get_or_none(self) -> httpx.Response | None:
        try:
            return self.get()
        except httpx.ConnectError:
            return None

    def get(self, path: str = "/version") -> httpx.Response:
        return httpx.get(f"http://127.0.0.1:{self.port}{path}", headers={"host": HOST}, timeout=60)


@contextlib.contextmanager
def platform_up(platform: Platform) -> Iterator[Platform]:
    """The platform up for the block; `down` after it (SIGKILL to its pid if
    that fails), its state directory removed."""
    platform.up()
    try:
        yield platform
    finally:
        pid = platform.pid()
        if pid is not None:
            done = platform.run("down", check=False)
            if done.returncode != 0 and pid_alive(pid):
                os.kill(pid, signal.SIGKILL)  # the platform we started, by its pid
        shutil.rmtree(platform.state_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with platform_up(Platform(tmp_path_factory.mktemp("platform"))) as platform:
        yield platform


def codes(answers: list) -> Counter[str]:
    return Counter(json.loads(answer.text)["code"] for answer in answers if answer.status == 200)


def test_up_prints_where_the_platform_is(platform: Platform) -> None:
    assert f"HTTP front:  http://127.0.0.1:{platform.port}" in platform.log()
    assert platform.get().status_code == 404  # nothing deployed yet


def test_a_deployed_bundle_serves_with_its_own_dependencies(platform: Platform) -> None:
    sha = platform.deploy("v1")
    assert re.fullmatch(r"[0-9a-f]{64}", sha)
    assert platform.get().json() == {"code": "v1", "pinned": "1.0"}


def test_a_new_version_takes_over_under_load_and_nothing_is_lost(platform: Platform) -> None:
    answers = answers_while(
        f"http://127.0.0.1:{platform.port}", HOST, "/version", lambda: platform.deploy("v2")
    )
    assert {answer.status for answer in answers} == {200}
    seen = codes(answers)
    assert set(seen) <= {"v1", "v2"} and seen["v1"] > 0
    assert platform.get().json() == {"code": "v2", "pinned": "2.0"}


def test_rollback_goes_back_under_load(platform: Platform) -> None:
    answers = answers_while(
        f"http://127.0.0.1:{platform.port}", HOST, "/version",
        lambda: platform.run("rollback", "versioned"),
    )  # fmt: skip
    assert {answer.status for answer in answers} == {200}
    assert platform.get().json() == {"code": "v1", "pinned": "1.0"}


def test_a_canary_serves_its_share_beside_the_live_version(platform: Platform) -> None:
    platform.deploy("v2", "--canary", "50")
    replies = [platform.get().json() for _ in range(60)]
    seen = Counter(reply["code"] for reply in replies)
    # each request's version follows from its id: about half each
    assert 12 <= seen["v2"] <= 48 and seen["v1"] + seen["v2"] == 60, seen
    # two versions pinning different versions of one library, served at once
    assert {(r["code"], r["pinned"]) for r in replies} == {("v1", "1.0"), ("v2", "2.0")}
    listed = json.loads(platform.run("ls", "--json").stdout)
    (deployment,) = listed["deployments"]
    assert deployment["canary_percent"] == 50
    platform.run("promote", "versioned")
    time.sleep(1.2)  # the Trons' refresh
    assert {platform.get().json()["code"] for _ in range(10)} == {"v2"}


def test_wrong_changes_are_refused_and_change_nothing(platform: Platform) -> None:
    before = platform.run("ls", "--json").stdout
    done = platform.run("rollback", "versioned", "--to", "ffff", check=False)
    assert done.returncode == 1
    assert "Error: Func 'versioned' has no version 'ffff'" in done.stderr
    done = platform.run("promote", "versioned", check=False)
    assert "Error: Func 'versioned' has no canary to promote" in done.stderr
    clash = write_func_folder(
        platform.state_dir.parent / "clash" / "clash", SPEC.replace("versions.", "clash_ops."),
        {"clash_ops.py": "def get():\n    return {}\n\ndef slow():\n    return {}\n"},
    )  # fmt: skip
    done = platform.run("deploy", str(clash), check=False)
    assert done.returncode == 1
    assert f"GET {HOST}/version is already served by Func 'versioned'" in done.stderr
    broken = write_func_folder(
        platform.state_dir.parent / "broken" / "broken",
        SPEC.replace("versions.", "broken_ops.").replace(HOST, "broken.local"),
        {"broken_ops.py": "import not_installed_anywhere\n"},
    )  # fmt: skip
    done = platform.run("deploy", str(broken), check=False)
    assert done.returncode == 1
    assert "importing 'broken_ops' failed: ModuleNotFoundError" in done.stderr
    assert platform.run("ls", "--json").stdout == before
    assert platform.get().status_code == 200  # the platform serves on


def test_a_killed_runner_is_restarted_and_its_request_completes(platform: Platform) -> None:
    answer: list[httpx.Response] = []
    request = threading.Thread(target=lambda: answer.append(platform.get("/slow")))
    request.start()
    time.sleep(1)  # the call is in the Func's sleep now
    runner = re.findall(r"started (runner-versioned-\w+-1) \(pid (\d+)\)", platform.log())[-1]
    os.kill(int(runner[1]), signal.SIGKILL)
    request.join(60)
    assert answer[0].status_code == 200 and answer[0].json() == {"code": "v2", "slow": True}
    assert f"{runner[0]} (pid {runner[1]}) was killed by SIGKILL; restarting it" in platform.log()


def test_down_and_up_again_keep_the_deployments(platform: Platform) -> None:
    pid = platform.pid()
    platform.run("down")
    assert pid is not None and not pid_alive(pid)
    assert platform.get_or_none() is None
    # where versions before temporal/ kept the database: `up` moves it in
    kept = list((platform.state_dir / "temporal").glob("temporal.db*"))
    assert kept
    for file in kept:
        file.rename(platform.state_dir / file.name)
    platform.up()
    assert platform.get().json() == {"code": "v2", "pinned": "2.0"}
    assert not list(platform.state_dir.glob("temporal.db*"))
