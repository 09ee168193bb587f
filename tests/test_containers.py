"""The platform's images, and Docker as all a Func author needs: `docker run
--network host -v FOLDER:/func IMAGE dev /func` serves a Func folder and
reloads a saved change, as `dev` does on a prepared machine. On the tests'
own Docker engine (tests/docker_engine.py)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from funcatron_wf.deploy.swarm_substrate import IMAGE_USER
from tests.conftest import EXAMPLES, free_port

pytestmark = [pytest.mark.swarm, pytest.mark.timeout(900)]  # a first build takes minutes


def test_images_are_tagged_with_version_and_inputs_and_kept(
    docker_client: Any, platform_images: Any
) -> None:
    from funcatron_wf.deploy.images import __version__, build_images

    assert platform_images.platform.startswith(f"funcatron-wf:{__version__}-")
    assert platform_images.front.startswith(f"funcatron-wf-front:{__version__}-")
    said: list[str] = []
    again = build_images(docker_client, say=said.append)  # nothing changed: nothing built
    assert again == platform_images
    assert not any(line.startswith(("building funcatron", "debootstrap")) for line in said), said
    version = docker_client.containers.run(
        platform_images.platform, ["--version"], network_mode="host", remove=True
    )
    assert version.decode().strip() == f"funcatron-wf, version {__version__}"


def wait_for_log(container: Any, text: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        logs = container.logs().decode(errors="replace")
        if text in logs:
            return logs
        container.reload()
        if container.status == "exited" or time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} in the container's output:\n{logs[-3000:]}")
        time.sleep(0.3)


def assert_unprivileged(container: Any) -> None:
    """It runs as the images' own user, not root, and writes only its /tmp
    (and what it was given)."""
    who = container.exec_run(["id", "-u"])
    assert who.exit_code == 0 and who.output.decode().strip() == str(IMAGE_USER)
    image = container.exec_run(["touch", "/opt/funcatron/written"])
    assert image.exit_code != 0 and b"Read-only file system" in image.output, image.output
    tmp = container.exec_run(["touch", "/tmp/written"])
    assert tmp.exit_code == 0, tmp.output


def test_docker_run_dev_serves_a_folder_and_reloads_on_save(
    docker_client: Any, platform_images: Any, tmp_path: Path
) -> None:
    folder = tmp_path / "hello"
    shutil.copytree(EXAMPLES / "hello", folder)
    port = free_port()
    dev = docker_client.containers.run(
        platform_images.platform,
        ["dev", "/func", "--port", str(port), "--temporal-port", str(free_port()),
         "--temporal-ui-port", str(free_port()), "--temporal-http-port", str(free_port())],
        network_mode="host", volumes={str(folder): {"bind": "/func", "mode": "rw"}},
        detach=True, stop_signal="SIGINT",
        read_only=True, tmpfs={"/tmp": "mode=1777"}, cap_drop=["ALL"],  # as the README runs it
    )  # fmt: skip
    try:
        wait_for_log(dev, "ready; Ctrl-C stops everything")
        assert_unprivileged(dev)
        setuid = dev.exec_run(["find", "/", "-xdev", "-type", "f", "-perm", "/6000"], user="root")
        assert setuid.exit_code == 0 and setuid.output == b"", setuid.output  # nothing regains root
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"host": "hello.local"}
        ) as http:
            assert http.get("/v1/greet/Docker").json() == {"greeting": "Hello, Docker"}
            code = folder / "greetings.py"
            code.write_text(code.read_text().replace('f"Hello, {name}"', 'f"Howdy, {name}"'))
            deadline = time.monotonic() + 30
            while http.get("/v1/greet/Docker").json() != {"greeting": "Howdy, Docker"}:
                assert time.monotonic() < deadline, dev.logs().decode()[-3000:]
                time.sleep(0.3)
        dev.stop(timeout=60)  # SIGINT, as Ctrl-C: dev stops what it started
        assert dev.wait(timeout=10)["StatusCode"] == 0, dev.logs().decode()[-3000:]
    finally:
        dev.remove(force=True)
