"""The `mesos` substrate against a FAKE Marathon (kmock's raw HTTP mock, with
the apps it is sent kept in a dict): no Marathon or Mesos can run on this
machine. The fake answers as Marathon's REST API v2 does, 409s included;
the tests check each call's path, verb, content type and body."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import AsyncIterator
from typing import Any

import kmock
import pytest

from funcatron_wf.deploy.marathon_substrate import (
    MarathonSubstrate,
    app_id,
    default_app_definition,
)
from funcatron_wf.deploy.substrate import Pool
from funcatron_wf.engine.contracts import func_task_queue
from tests.dev_process import FUNCATRON

SHA = "ef" * 32
POOL = Pool("hello", SHA, func_task_queue("hello", SHA), 2)
APP = app_id("hello", SHA)


def answer(payload: Any, status: int = 200) -> kmock.Response:
    return kmock.Response(status=status, payload=payload)


class FakeMarathon:
    """Marathon's apps, in memory; an app may be held by a deployment."""

    def __init__(self) -> None:
        self.apps: dict[str, dict[str, Any]] = {}
        self.locked: set[str] = set()

    def create(self, request: kmock.Request) -> kmock.Response:
        app = request.data
        if app["id"] in self.apps:
            return answer({"message": f"An app with id [{app['id']}] already exists."}, status=409)
        self.apps[app["id"]] = app
        return answer(app, status=201)

    def update(self, request: kmock.Request) -> kmock.Response:
        app = request.url.path.removeprefix("/v2/apps")
        if app in self.locked and request.params.get("force") != "true":
            return answer(
                {"message": "App is locked by one or more deployments. Override with the option "
                 "'?force=true'.", "deployments": [{"id": "dep-1"}]}, status=409,
            )  # fmt: skip
        self.apps[app].update(request.data)
        return answer({"version": "2026-11-29T00:00:00Z", "deploymentId": "dep-2"})

    def listed(self, request: kmock.Request) -> kmock.Response:
        app = request.url.path.removeprefix("/v2/apps")
        if not app:
            return answer({"apps": list(self.apps.values())})
        if app not in self.apps:
            return answer({"message": f"App '{app}' does not exist"}, status=404)
        return answer({"app": self.apps[app]})

    def delete(self, request: kmock.Request) -> kmock.Response:
        app = request.url.path.removeprefix("/v2/apps")
        if self.apps.pop(app, None) is None:
            return answer({"message": f"App '{app}' does not exist"}, status=404)
        return answer({"version": "v", "deploymentId": "dep-3"})

    def deployments(self, request: kmock.Request) -> Any:
        listed = [{"id": "dep-1", "affectedApps": sorted(self.locked)}]  # a JSON array
        return kmock.Response(
            payload=json.dumps(listed).encode(), headers={"Content-Type": "application/json"}
        )


@pytest.fixture
async def fake_marathon(
    kmock: kmock.RawHandler,
) -> AsyncIterator[tuple[kmock.RawHandler, FakeMarathon]]:
    marathon = FakeMarathon()
    kmock["post /v2/apps"] << marathon.create
    kmock["get /v2/apps"] << marathon.listed
    kmock["put"] << marathon.update
    kmock["delete"] << marathon.delete
    kmock["get /v2/deployments"] << marathon.deployments
    kmock["get /v2/info"] << {"version": "1.10.17", "leader": "127.0.0.1:8080"}
    kmock["get"] << marathon.listed  # /v2/apps/ID: one app
    yield kmock, marathon


def requests(server: kmock.RawHandler, method: str, path: str) -> list[Any]:
    return [r for r in server if str(r.method).upper().endswith(method) and r.url.path == path]


pytestmark = pytest.mark.kmock(cls=kmock.RawHandler)


async def test_a_pool_is_a_marathon_app_scaled_by_instances_on_a_fake_marathon(
    fake_marathon: tuple[kmock.RawHandler, FakeMarathon],
) -> None:
    server, marathon = fake_marathon
    substrate = MarathonSubstrate(str(server.url).rstrip("/"), default_app_definition())
    try:
        assert await substrate.pools() == []
        [listing] = requests(server, "GET", "/v2/apps")
        assert listing.params["label"] == "FUNCATRON_ROLE==runner"

        await substrate.apply(POOL)
        [create] = requests(server, "POST", "/v2/apps")
        assert create.headers["Content-Type"] == "application/json"
        app = create.data
        assert app["id"] == APP and app["instances"] == 2
        assert app["args"] == [
            "runner", "--ready-file", "/tmp/ready", "--bundle", SHA, "--concurrency", "64",
        ]  # fmt: skip
        assert app["labels"]["FUNCATRON_SHA"] == SHA
        assert app["labels"]["FUNCATRON_TASK_QUEUE"] == POOL.task_queue
        assert app["container"]["docker"]["image"]  # the base definition's
        assert app["taskKillGracePeriodSeconds"] == 35  # its longest call, 30 s, and 5 s
        assert await substrate.pools() == [POOL]

        # scaling: the app exists (409), so its instances are set
        await substrate.apply(Pool(POOL.func, SHA, POOL.task_queue, 3))
        [_, refused] = requests(server, "POST", "/v2/apps")
        [scale] = requests(server, "PUT", f"/v2/apps{APP}")
        assert scale.data["instances"] == 3 and "force" not in scale.params
        assert scale.data["args"] == app["args"]  # unchanged: Marathon only scales
        assert marathon.apps[APP]["instances"] == 3

        # a new concurrency: new args (Marathon replaces the tasks), read back from its label
        await substrate.apply(Pool(POOL.func, SHA, POOL.task_queue, 3, concurrency=8))
        *_, replaced = requests(server, "PUT", f"/v2/apps{APP}")
        assert replaced.data["args"][-2:] == ["--concurrency", "8"]
        assert await substrate.pools() == [Pool(POOL.func, SHA, POOL.task_queue, 3, 8)]

        # held by a deployment: Marathon's deployments are read, then the scale forced
        marathon.locked.add(APP)
        await substrate.apply(Pool(POOL.func, SHA, POOL.task_queue, 5, 8))
        *_, refused_put, forced = requests(server, "PUT", f"/v2/apps{APP}")
        assert "force" not in refused_put.params and forced.params["force"] == "true"
        assert requests(server, "GET", "/v2/deployments")
        assert await substrate.pools() == [Pool(POOL.func, SHA, POOL.task_queue, 5, 8)]

        await substrate.remove(POOL.func, SHA)
        assert requests(server, "DELETE", f"/v2/apps{APP}")
        assert await substrate.pools() == []
        await substrate.remove(POOL.func, SHA)  # 404: gone already
    finally:
        await substrate.close()


async def test_the_trons_app_is_sized_when_there_is_one_on_a_fake_marathon(
    fake_marathon: tuple[kmock.RawHandler, FakeMarathon],
) -> None:
    server, marathon = fake_marathon
    substrate = MarathonSubstrate(str(server.url).rstrip("/"), default_app_definition())
    try:
        assert await substrate.trons() is None  # no Trons' app: not ours to size
        marathon.apps["/funcatron/tron"] = {"id": "/funcatron/tron", "instances": 2}
        assert await substrate.trons() == 2
        await substrate.size_trons(3)
        [scaled] = requests(server, "PUT", "/v2/apps/funcatron/tron")
        assert scaled.data == {"instances": 3}
        assert await substrate.trons() == 3
    finally:
        await substrate.close()


async def test_substrate_check_says_what_marathon_offers_and_what_is_missing(
    fake_marathon: tuple[kmock.RawHandler, FakeMarathon],
) -> None:
    server, _ = fake_marathon
    env = {k: v for k, v in os.environ.items() if not k.startswith("FUNCATRON_")}
    check = [
        FUNCATRON,
        "substrate",
        "check",
        "--substrate",
        "mesos",
    ]  # (the fake serves on this loop)
    missing = await asyncio.to_thread(
        subprocess.run, check, env=env, capture_output=True, text=True, timeout=60
    )
    assert missing.returncode == 1
    assert "MISSING Marathon: the mesos substrate needs Marathon's address" in missing.stdout

    env["FUNCATRON_MARATHON_URL"] = str(server.url).rstrip("/")
    found = await asyncio.to_thread(
        subprocess.run, check, env=env, capture_output=True, text=True, timeout=60
    )
    assert found.returncode == 0, found.stdout + found.stderr
    assert "version 1.10.17" in found.stdout and "0 now" in found.stdout

    bad = os.environ.get("TMPDIR", "/tmp") + "/no-such-app.json"
    env["FUNCATRON_MARATHON_APP"] = bad
    broken = await asyncio.to_thread(
        subprocess.run, check, env=env, capture_output=True, text=True, timeout=60
    )
    assert broken.returncode == 1 and "not a Marathon app definition" in broken.stdout


def test_the_shipped_runner_app_definition_is_json_marathon_reads() -> None:
    app = default_app_definition()
    assert json.dumps(app)
    assert app["container"]["type"] == "DOCKER"
    # the image's own user, with a read-only root and no capabilities, as on Swarm
    docker_run_flags = {(p["key"], p["value"]) for p in app["container"]["docker"]["parameters"]}
    assert {("read-only", "true"), ("tmpfs", "/tmp"), ("cap-drop", "ALL")} <= docker_run_flags
    assert app["healthChecks"][0]["command"]["value"] == "test -f /tmp/ready"
    assert app["taskKillGracePeriodSeconds"] >= 35  # a 30 s call drains (each app sets its own)
