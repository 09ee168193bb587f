"""The platform on a real Docker Swarm (the tests' own engine,
tests/docker_engine.py): `up --substrate swarm` runs Temporal, the Tron and
the nginx front as services from the platform's images, and `deploy`,
`scale`, `rollback` and `undeploy` manage one Runner service per Func
version. Requests go through the containerized front, Tron and Runners.
Tests run in file order."""

from __future__ import annotations

import functools
import os
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from funcatron_wf.deploy.swarm_substrate import IMAGE_USER
from tests import conftest
from tests.client_loop import answers_while
from tests.conftest import REPO
from tests.dev_process import FUNCATRON
from tests.test_containers import assert_unprivileged
from tests.test_platform import HOST, Platform, platform_up

pytestmark = [pytest.mark.swarm, pytest.mark.timeout(900)]


class SwarmTestPlatform(Platform):
    def up(self) -> None:
        os.environ["FUNCATRON_TRON_MIN"] = "2"  # a second Tron, beside the front door's
        try:
            self.run("up", "--substrate", "swarm", *self.ports)
        finally:
            del os.environ["FUNCATRON_TRON_MIN"]


@pytest.fixture(scope="module")
def swarm(
    docker_client: Any, platform_images: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SwarmTestPlatform]:
    with platform_up(SwarmTestPlatform(tmp_path_factory.mktemp("swarm"))) as platform:
        yield platform


def runner_services(client: Any) -> list[Any]:
    return client.services.list(
        filters={"label": ["funcatron.role=runner", "funcatron.func=versioned"]}
    )


def running_tasks(service: Any) -> int:
    return sum(1 for task in service.tasks() if task["Status"]["State"] == "running")


# a task starts within seconds; a rollout replaces tasks one at a time
eventually = functools.partial(conftest.eventually, timeout=90.0)


def test_the_platform_runs_as_services(swarm: SwarmTestPlatform, docker_client: Any) -> None:
    roles = {s.attrs["Spec"]["Labels"].get("funcatron.role") for s in docker_client.services.list()}
    assert {"temporal", "tron", "front"} <= roles
    for service in docker_client.services.list():
        (network,) = service.attrs["Spec"]["TaskTemplate"]["Networks"]
        assert docker_client.networks.get(network["Target"]).name == "host"


def test_the_trons_beyond_the_first_are_a_service_of_their_own(docker_client: Any) -> None:
    def more_trons() -> list[Any]:
        trons = docker_client.services.list(filters={"label": "funcatron.role=tron"})
        return [service for service in trons if service.name.endswith("-trons")]

    eventually(lambda: more_trons() and running_tasks(more_trons()[0]) == 1, "a second Tron")
    (service,) = more_trons()
    assert "--front-door" not in service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]["Args"]


def test_a_deployed_bundle_serves_through_the_containers(
    swarm: SwarmTestPlatform, docker_client: Any
) -> None:
    sha = swarm.deploy("v1")
    assert swarm.get().json() == {"code": "v1", "pinned": "1.0"}
    (service,) = runner_services(docker_client)
    spec = service.attrs["Spec"]
    labels = spec["Labels"]
    assert labels["funcatron.sha"] == sha and labels["funcatron.func"] == "versioned"
    assert labels["funcatron.version"] == sha[:12]
    task = spec["TaskTemplate"]
    assert task["ContainerSpec"]["Image"].startswith("sha256:")  # by ID: no registry pull
    assert task["ContainerSpec"]["Healthcheck"]["Test"][:2] == ["CMD", "test"]
    assert task["ContainerSpec"]["StopGracePeriod"] >= 10 * 10**9  # the Runner's drain
    assert spec["UpdateConfig"]["Parallelism"] == 1  # an update replaces one task at a time
    assert task["RestartPolicy"]["Condition"] == "any"


def test_no_service_runs_as_root_or_writes_its_image(docker_client: Any) -> None:
    """Temporal, the Trons, the front and the Runners run as the images' own
    user (these tests run `up` as root), with a read-only root filesystem
    and no capabilities: what they write is their binds and a tmpfs /tmp."""
    services = docker_client.services.list(filters={"label": "funcatron.platform"})
    roles = {service.attrs["Spec"]["Labels"]["funcatron.role"] for service in services}
    assert roles == {"temporal", "tron", "front", "runner"}
    for service in services:
        spec = service.attrs["Spec"]["TaskTemplate"]["ContainerSpec"]
        assert spec["User"] == f"{IMAGE_USER}:{IMAGE_USER}", service.name
        assert spec["ReadOnly"] is True and spec["CapabilityDrop"] == ["ALL"], service.name
        if service.attrs["Spec"]["Labels"]["funcatron.role"] == "runner":
            # no Func can change another version's bundle
            stores = [mount for mount in spec["Mounts"] if "/store" in mount.get("Source", "")]
            assert stores and all(mount.get("ReadOnly") for mount in stores), stores
    containers = docker_client.containers.list(filters={"label": "funcatron.platform"})
    assert len(containers) >= len(services)
    for container in containers:
        assert_unprivileged(container)


def test_scale_to_three_and_back_to_one_draining_what_they_hold(
    swarm: SwarmTestPlatform, docker_client: Any
) -> None:
    swarm.run("scale", "versioned", "3")
    eventually(lambda: running_tasks(runner_services(docker_client)[0]) == 3, "3 Runners")
    with ThreadPoolExecutor(6) as pool:
        slow = [pool.submit(swarm.get, "/slow") for _ in range(6)]  # 3 s each, on every Runner
        time.sleep(1)
        swarm.run("scale", "versioned", "1")  # two get SIGTERM while they hold calls
        answers = [future.result() for future in slow]
    assert [answer.status_code for answer in answers] == [200] * 6
    # finished where they ran: a call retried after a lost Runner would take its
    # heartbeat timeout (5 s) and the 3 s again
    assert max(answer.elapsed.total_seconds() for answer in answers) < 7
    eventually(lambda: running_tasks(runner_services(docker_client)[0]) == 1, "back to 1 Runner")


def test_the_autoscaler_sizes_the_runner_service_within_its_bounds(
    swarm: SwarmTestPlatform, docker_client: Any
) -> None:
    swarm.run("scale", "versioned", "--auto")
    swarm.run("scale", "versioned", "--min", "2")  # idle: the autoscaler gives it its minimum
    eventually(lambda: running_tasks(runner_services(docker_client)[0]) == 2, "2 Runners")
    listed = swarm.run("ls", "--json").stdout
    assert '"pool_size": 2' in listed
    swarm.run("scale", "versioned", "1")
    eventually(lambda: running_tasks(runner_services(docker_client)[0]) == 1, "back to 1 Runner")


def test_a_new_concurrency_updates_the_runner_service(
    swarm: SwarmTestPlatform, docker_client: Any
) -> None:
    swarm.run("scale", "versioned", "--concurrency", "8")

    def args() -> list[str]:
        spec = runner_services(docker_client)[0].attrs["Spec"]
        return list(spec["TaskTemplate"]["ContainerSpec"]["Args"])

    eventually(lambda: "8" in args(), "the service updated")
    assert args()[args().index("--concurrency") + 1] == "8"
    spec = runner_services(docker_client)[0].attrs["Spec"]
    assert spec["Labels"]["funcatron.concurrency"] == "8"
    assert spec["TaskTemplate"]["ContainerSpec"]["Mounts"]  # the rest of its spec kept
    eventually(lambda: running_tasks(runner_services(docker_client)[0]) == 1, "its new Runner")
    assert swarm.get().status_code == 200
    swarm.run("scale", "versioned", "--concurrency", "spec")


def test_a_killed_runner_container_loses_no_request(
    swarm: SwarmTestPlatform, docker_client: Any
) -> None:
    swarm.run("scale", "versioned", "2")
    eventually(lambda: running_tasks(runner_services(docker_client)[0]) == 2, "2 Runners")
    runners = docker_client.containers.list(filters={"label": "funcatron.role=runner"})

    def one(_: int) -> int:
        return httpx.get(
            f"http://127.0.0.1:{swarm.port}/version", headers={"host": HOST}, timeout=60
        ).status_code

    with ThreadPoolExecutor(8) as pool:
        answers = pool.map(one, range(200))
        time.sleep(0.5)
        runners[0].kill()  # SIGKILL: what it held is retried on the other
        statuses = list(answers)
    assert statuses == [200] * 200
    eventually(lambda: running_tasks(runner_services(docker_client)[0]) == 2, "Swarm replacing it")


def test_a_new_version_then_a_rollback_under_load(
    swarm: SwarmTestPlatform, docker_client: Any
) -> None:
    url = f"http://127.0.0.1:{swarm.port}"
    answers = answers_while(url, HOST, "/version", lambda: swarm.deploy("v2"))
    assert {answer.status for answer in answers} == {200}
    assert swarm.get().json() == {"code": "v2", "pinned": "2.0"}
    answers = answers_while(url, HOST, "/version", lambda: swarm.run("rollback", "versioned"))
    assert {answer.status for answer in answers} == {200}
    assert swarm.get().json() == {"code": "v1", "pinned": "1.0"}


def test_undeploy_removes_the_runner_services(swarm: SwarmTestPlatform, docker_client: Any) -> None:
    swarm.run("undeploy", "versioned")
    eventually(lambda: not runner_services(docker_client), "the Runner services removed")
    assert swarm.get().status_code == 404


def test_down_removes_every_service(swarm: SwarmTestPlatform, docker_client: Any) -> None:
    swarm.run("down")
    assert docker_client.services.list() == []
    assert docker_client.containers.list(filters={"label": "funcatron.platform"}) == []
    # services name their image by ID: Swarm tried no registry pull for any task
    log = (REPO / "build" / "docker-test" / "dockerd.log").read_text(errors="replace")
    assert "pulling image failed" not in log


def test_substrate_check_finds_the_engine_the_swarm_and_the_image(swarm: SwarmTestPlatform) -> None:
    check = [FUNCATRON, "substrate", "check", "--substrate", "swarm"]
    done = subprocess.run(check, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "substrate: swarm"
    assert lines[1].startswith("ok   a Docker engine")
    assert lines[2] == "ok   a swarm this engine belongs to: active"
    assert lines[3].startswith("ok   the platform's image: funcatron-wf:")
    nowhere = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    done = subprocess.run(
        check, env=nowhere, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 1
    assert done.stdout.splitlines()[1].startswith("MISSING a Docker engine (DOCKER_HOST)")
