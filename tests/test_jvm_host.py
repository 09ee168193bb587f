"""Java, Scala and Clojure Funcs through the real `funcatron-wf dev` (nginx
+ Lua, the Temporal dev server, a Runner with one JVM host per Func): a GET
with a typed parameter, a POST with a body, an HTTP error, a thrown
exception (500 with the request id), a log line carrying the request id;
and `new --lang java|scala|clojure` folders, built and served. The Java
and Scala Funcs are built here with Debian's javac and scalac against the
host's JAR; the Clojure ones are their sources."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from funcatron_wf.workers.jvm_host import host_jar
from tests.conftest import REPO, problem_document
from tests.dev_process import FUNCATRON, DevProcess, running
from tests.test_platform import Platform, platform_up
from tests.test_scaffold import serves_the_scaffold

FUNCS = REPO / "tests" / "funcs"
pytestmark = pytest.mark.timeout(300)


def run(*argv: str | Path, cwd: Path) -> None:
    done = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"


def built(name: str, root: Path, compile_to: list[str | Path], jar: str) -> Path:
    """The test Func ``name`` copied under ``root``, its sources compiled
    by ``compile_to`` (the classes folder appended) and packed as ``jar``."""
    folder = shutil.copytree(FUNCS / name, root / name)
    classes = root / f"{name}-classes"
    classes.mkdir()
    run(*compile_to, "-d", classes, cwd=folder)
    run(
        shutil.which("jar") or "jar",
        "--create",
        "--file",
        folder / jar,
        "-C",
        classes,
        ".",
        cwd=root,
    )
    return folder


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevProcess]:
    root = tmp_path_factory.mktemp("jvm")
    api = host_jar()  # built from workers/jvm/src when missing
    java_sources = sorted(str(p) for p in (FUNCS / "jvm_java" / "java").rglob("*.java"))
    java = built(
        "jvm_java", root, ["javac", "--release", "17", "-cp", api, *java_sources], "pets.jar"
    )
    scala_sources = sorted(str(p) for p in (FUNCS / "jvm_scala" / "scala").rglob("*.scala"))
    scala = built(
        "jvm_scala", root, ["scalac", "-target:jvm-1.8", "-cp", api, *scala_sources], "words.jar"
    )
    clojure = shutil.copytree(FUNCS / "jvm_clojure", root / "jvm_clojure")
    env = {"FUNCATRON_LOG_FORMAT": "json"}
    with running(DevProcess([java, scala, clojure], root / "dev.log", env=env)) as process:
        yield process


@pytest.fixture(scope="module")
def http(dev: DevProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=dev.url, timeout=60) as client:
        yield client


def logged(dev: DevProcess, message: str, request_id: str) -> None:
    pattern = re.compile(rf'"message": "{re.escape(message)}".*"request_id": "{request_id}"')
    deadline = time.monotonic() + 10
    while not any(pattern.search(line) for line in dev.output().splitlines()):
        assert time.monotonic() < deadline, dev.output()[-3000:]
        time.sleep(0.2)


def test_java_a_static_method_with_a_typed_parameter_and_its_log_line(
    dev: DevProcess, http: httpx.Client
) -> None:
    reply = http.get("/pets/1", headers={"host": "java.local"})
    assert reply.status_code == 200, reply.text
    request_id = reply.headers["x-request-id"]
    assert reply.json() == {"id": 1, "name": "Rex", "requestId": request_id}
    logged(dev, "looking up pet 1", request_id)


def adds_a_pet_and_misses_another(http: httpx.Client, host: dict[str, str]) -> None:
    """POST /pets answered 201 with a Location; GET /pets/7 a 404 problem."""
    added = http.post("/pets", json={"name": "Tom"}, headers=host)
    assert (added.status_code, added.json()) == (201, {"id": 2, "name": "Tom"})
    assert added.headers["location"] == "/pets/2"
    missing = http.get("/pets/7", headers=host)
    assert missing.status_code == 404
    assert problem_document(missing)["detail"] == "no pet 7"


def test_java_a_body_a_response_of_its_own_an_http_error_and_a_function_class(
    http: httpx.Client,
) -> None:
    host = {"host": "java.local"}
    adds_a_pet_and_misses_another(http, host)
    greeting = http.get("/greet/Ada", headers=host)
    assert (greeting.status_code, greeting.text) == (200, "Hello, Ada")


def test_java_an_exception_is_a_500_with_the_request_id_and_the_stack_in_dev(
    http: httpx.Client,
) -> None:
    reply = http.get("/boom", headers={"host": "java.local"})
    assert reply.status_code == 500
    document = problem_document(reply)
    assert document["detail"] == "pets.Pets.boom raised IllegalStateException"
    assert "the pets are loose" in document["traceback"]


def test_scala_an_object_method_a_text_body_an_http_error_and_an_exception(
    dev: DevProcess, http: httpx.Client
) -> None:
    host = {"host": "scala.local"}
    shouted = http.get("/shout/hey", headers=host)
    assert (shouted.status_code, shouted.json()) == (200, {"shouted": "HEY!"})
    logged(dev, "shouting hey", shouted.headers["x-request-id"])
    counted = http.post(
        "/count", content="one two three", headers={**host, "content-type": "text/plain"}
    )
    assert (counted.status_code, counted.json()) == (200, {"words": 3})
    empty = http.post("/count", content="  ", headers={**host, "content-type": "text/plain"})
    assert empty.status_code == 422
    boom = http.get("/boom", headers=host)
    assert boom.status_code == 500
    assert problem_document(boom)["detail"] == "words.Words.boom raised IllegalArgumentException"


def test_clojure_a_request_map_with_keyword_keys_and_data_back(
    dev: DevProcess, http: httpx.Client
) -> None:
    host = {"host": "clojure.local"}
    reply = http.get("/pets/1", headers=host)
    assert reply.status_code == 200, reply.text
    request_id = reply.headers["x-request-id"]
    assert reply.json() == {"id": 1, "name": "Rex", "kind": "dog", "request-id": request_id}
    logged(dev, "looking up pet 1", request_id)


def test_clojure_a_ring_response_ex_info_with_a_status_and_an_exception(
    http: httpx.Client,
) -> None:
    host = {"host": "clojure.local"}
    adds_a_pet_and_misses_another(http, host)
    boom = http.get("/boom", headers=host)
    assert boom.status_code == 500
    document = problem_document(boom)
    assert document["detail"] == "pets-clj.core/boom raised IllegalStateException"
    assert "clojure says no" in document["traceback"]


def test_new_jvm_funcs_build_and_are_served(tmp_path: Path) -> None:
    folders = []
    for language in ("java", "scala", "clojure"):
        name = f"{language}-shop"
        done = subprocess.run(
            [FUNCATRON, "new", name, "--lang", language, "--dir", str(tmp_path)],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        folder = tmp_path / name
        if language != "clojure":
            run(folder / "build.sh", cwd=tmp_path)
            assert (folder / f"{name}.jar").is_file()
        folders.append(folder)
    with running(DevProcess(folders, tmp_path / "dev.log")) as dev:  # a JVM each
        for folder in folders:
            serves_the_scaffold(dev.url, folder.name)


def test_a_bundled_java_func_deploys_and_serves_on_the_local_platform(tmp_path: Path) -> None:
    api = host_jar()
    sources = sorted(str(p) for p in (FUNCS / "jvm_java" / "java").rglob("*.java"))
    folder = built(
        "jvm_java", tmp_path, ["javac", "--release", "17", "-cp", api, *sources], "pets.jar"
    )
    with platform_up(Platform(tmp_path / "platform")) as platform:
        platform.run("deploy", str(folder))
        listed = json.loads(platform.run("ls", "--json").stdout)
        assert [d["name"] for d in listed["deployments"]] == ["jvm-java"]
        reply = httpx.get(
            f"http://127.0.0.1:{platform.port}/pets/1", headers={"host": "java.local"}, timeout=60
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["name"] == "Rex"
