"""`funcatron-wf controller --substrate kubernetes` end to end, as a cluster
runs it: the Registry on a real platform (`funcatron-wf up`, whose own
Runners serve the requests) and a FAKE Kubernetes API server (kmock's
emulator; no real one runs here) where the controller keeps one Runner
Deployment per serving version; the autoscaler's sizes and `scale` resize it, `deploy --keda` hands a
version to KEDA, `undeploy` removes them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import kmock
import pytest

from funcatron_wf.deploy.kubernetes_objects import deployment_name
from tests.dev_process import FUNCATRON
from tests.fake_kubernetes import NAMESPACE, FakeApiServer, set_up
from tests.test_platform import Platform, platform_up

pytestmark = [pytest.mark.kmock(cls=FakeApiServer), pytest.mark.timeout(300)]
FUNC = "versioned"


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with platform_up(Platform(tmp_path_factory.mktemp("cluster"))) as platform:
        yield platform


def deployments(server: kmock.KubernetesEmulator) -> dict[str, dict]:
    return {
        name: server.objects[resource, namespace, name]
        for resource, namespace, name in list(server.objects)
        if resource.plural == "deployments" and not server.objects[resource, namespace, name].deleted
    }  # fmt: skip


async def eventually(check: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.2)


async def test_the_controller_keeps_a_deployment_per_version_on_a_fake_api_server(
    kmock: kmock.KubernetesEmulator, platform: Platform, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("KUBECONFIG", str(set_up(kmock, tmp_path)))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    info = json.loads((platform.state_dir / "platform.json").read_text())
    alive = tmp_path / "alive"
    log = (tmp_path / "controller.log").open("w")
    # every blocking call runs in a thread: the fake serves on this loop
    v1 = await asyncio.to_thread(platform.deploy, "v1")
    controller = await asyncio.create_subprocess_exec(
        FUNCATRON, "controller", "--substrate", "kubernetes",
        "--temporal", info["temporal"], "--namespace", info["namespace"],
        "--alive-file", str(alive),
        env={**os.environ, "FUNCATRON_LOG_FORMAT": "text", "FUNCATRON_TRON_MIN": "3"},
        stdout=log, stderr=log,
    )  # fmt: skip
    try:
        v1_name = deployment_name(FUNC, v1)
        await eventually(lambda: v1_name in deployments(kmock), "v1's Deployment")
        made = deployments(kmock)[v1_name]
        assert made["spec"]["replicas"] == 1
        assert made["metadata"]["annotations"]["funcatron.io/sha"] == v1
        [runner] = made["spec"]["template"]["spec"]["containers"]
        assert runner["args"][-4:] == ["--bundle", v1, "--concurrency", "64"]
        await eventually(alive.exists, "a pass that went through")
        # the Trons' Deployment (base/tron.yaml, 2) sized by the autoscaler: its minimum
        await eventually(
            lambda: deployments(kmock)["funcatron-tron"]["spec"]["replicas"] == 3, "3 Trons"
        )

        # the autoscaler's size, within the bounds `scale` set, reaches the Deployment
        await asyncio.to_thread(platform.run, "scale", FUNC, "--min", "2")
        await eventually(lambda: deployments(kmock)[v1_name]["spec"]["replicas"] == 2, "bounded")
        await asyncio.to_thread(platform.run, "scale", FUNC, "3")
        await eventually(lambda: deployments(kmock)[v1_name]["spec"]["replicas"] == 3, "scaled")

        # a new concurrency: the pods are replaced, the size kept
        def v1_args() -> list[str]:
            return deployments(kmock)[v1_name]["spec"]["template"]["spec"]["containers"][0]["args"]

        await asyncio.to_thread(platform.run, "scale", FUNC, "--concurrency", "8")
        await eventually(lambda: v1_args()[-1] == "8", "new pods")
        assert deployments(kmock)[v1_name]["spec"]["replicas"] == 3

        # v2 with KEDA: once the controller made its Deployment, a ScaledObject
        v2 = await asyncio.to_thread(platform.deploy, "v2", "--substrate", "kubernetes", "--keda")
        v2_name = deployment_name(FUNC, v2)
        v2_made = deployments(kmock)[v2_name]
        assert v2_made["metadata"]["annotations"]["funcatron.io/scaled-by"] == "keda"
        scaled = kmock.objects["keda.sh/v1alpha1/scaledobjects", NAMESPACE, v2_name]
        assert scaled["spec"]["scaleTargetRef"] == {"name": v2_name}
        assert scaled["spec"]["minReplicaCount"] == 3  # the Func's replicas: the floor
        [owner] = scaled["metadata"]["ownerReferences"]
        assert owner["uid"] == v2_made["metadata"]["uid"]

        # v1 no longer serves: its Deployment goes once its requests drained (15 s)
        await eventually(lambda: v1_name not in deployments(kmock), "v1 removed", timeout=60)
        await asyncio.to_thread(platform.run, "undeploy", FUNC)
        await eventually(
            lambda: set(deployments(kmock)) == {"funcatron-tron"}, "all removed", timeout=60
        )
    finally:
        controller.send_signal(signal.SIGTERM)  # the controller we started, by its handle
        code = await asyncio.wait_for(controller.wait(), 30)
        log.close()
        print((tmp_path / "controller.log").read_text())  # shown on failure
    assert code == 0
