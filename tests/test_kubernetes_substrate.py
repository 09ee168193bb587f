"""The `kubernetes` substrate, through the official `kubernetes` client and a
kubeconfig, against a FAKE Kubernetes API server (kmock's emulator): no
real API server can run on this machine. The fake keeps the objects it is
sent and streams watch events; these tests check what the real API
expects of every call (path, verb, content type, body, bearer token) and
validate each object sent against the Kubernetes OpenAPI schemas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import kmock
import kubernetes_validate
import pytest

from funcatron_wf.deploy.cluster_substrates import kubernetes_substrate
from funcatron_wf.deploy.kubernetes_objects import deployment_name, runner_deployment
from funcatron_wf.deploy.kubernetes_substrate import KubernetesSubstrate
from funcatron_wf.deploy.substrate import Pool
from funcatron_wf.deploy.substrate_check import check_substrate
from funcatron_wf.engine.contracts import func_task_queue
from funcatron_wf.engine.settings import Settings
from tests.fake_kubernetes import NAMESPACE, TOKEN, FakeApiServer, runner_template, set_up

SHA = "ab" * 32
POOL = Pool("hello", SHA, func_task_queue("hello", SHA), 2)
NAME = deployment_name("hello", SHA)
DEPLOYMENTS = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
SCALED_OBJECTS = f"/apis/keda.sh/v1alpha1/namespaces/{NAMESPACE}/scaledobjects"
VERSIONS = ("1.31.0", "1.37.0")
pytestmark = pytest.mark.kmock(cls=FakeApiServer)


@pytest.fixture
def fake_api(
    kmock: kmock.KubernetesEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> kmock.KubernetesEmulator:
    monkeypatch.setenv("KUBECONFIG", str(set_up(kmock, tmp_path)))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return kmock


@pytest.fixture
async def substrate(fake_api: kmock.KubernetesEmulator) -> AsyncIterator[KubernetesSubstrate]:
    found = kubernetes_substrate(Settings(substrate="kubernetes"))
    yield found
    await found.close()


def calls(fake_api: kmock.KubernetesEmulator, method: str, path: str) -> list[Any]:
    """The requests the `kubernetes` client made (not the test's own)."""
    return [
        r for r in fake_api
        if str(r.method).upper().endswith(method) and r.url.path == path
        and r.headers.get("User-Agent", "").startswith("OpenAPI-Generator/")
    ]  # fmt: skip


async def eventually(check: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "never happened"
        await asyncio.sleep(0.05)


async def test_a_pool_is_a_deployment_made_from_the_runner_template_on_a_fake_api_server(
    fake_api: kmock.KubernetesEmulator, substrate: KubernetesSubstrate
) -> None:
    assert substrate.namespace == NAMESPACE  # the kubeconfig context's
    assert await substrate.pools() == []
    await substrate.apply(POOL)

    [create] = calls(fake_api, "POST", DEPLOYMENTS)
    assert create.headers["Content-Type"] == "application/json"
    assert create.headers["Authorization"] == f"Bearer {TOKEN}"
    sent = create.data
    for version in VERSIONS:
        kubernetes_validate.validate(sent, version, strict=True)
    assert sent["metadata"]["name"] == NAME
    assert sent["metadata"]["labels"]["funcatron.io/func"] == "hello"
    assert sent["metadata"]["labels"]["funcatron.io/version"] == SHA[:12]
    assert sent["metadata"]["annotations"]["funcatron.io/sha"] == SHA
    assert sent["spec"]["replicas"] == 2
    pod = sent["spec"]["template"]
    assert pod["metadata"]["labels"]["funcatron.io/version"] == SHA[:12]
    [runner] = pod["spec"]["containers"]
    assert runner["args"] == [
        "runner", "--ready-file", "/tmp/ready", "--bundle", SHA, "--concurrency", "64",
    ]  # fmt: skip
    assert runner["securityContext"]["readOnlyRootFilesystem"] is True  # the template's
    # a pod scaled away gets its longest call (the default 30 s timeout) and 5 s to exit
    assert pod["spec"]["terminationGracePeriodSeconds"] == 35
    assert await substrate.pools() == [POOL]

    await substrate.apply(Pool(POOL.func, POOL.sha, POOL.task_queue, 3))
    [patch] = calls(fake_api, "PATCH", f"{DEPLOYMENTS}/{NAME}")
    # a merge patch, said: the API server reads a patch by its content type
    assert patch.headers["Content-Type"] == "application/merge-patch+json"
    assert patch.data == {"spec": {"replicas": 3}}
    assert [pool.replicas for pool in await substrate.pools()] == [3]

    # a new concurrency: the pod template with the new args (a rolling update), and noted
    await substrate.apply(Pool(POOL.func, POOL.sha, POOL.task_queue, 3, concurrency=8))
    *_, rolled = calls(fake_api, "PATCH", f"{DEPLOYMENTS}/{NAME}")
    assert rolled.data["metadata"]["annotations"] == {"funcatron.io/concurrency": "8"}
    [runner] = rolled.data["spec"]["template"]["spec"]["containers"]
    assert runner["args"][-2:] == ["--concurrency", "8"]
    assert "replicas" not in rolled.data["spec"]  # the size did not change
    assert await substrate.pools() == [Pool(POOL.func, POOL.sha, POOL.task_queue, 3, 8)]

    await substrate.remove(POOL.func, POOL.sha)
    [delete] = calls(fake_api, "DELETE", f"{DEPLOYMENTS}/{NAME}")
    assert delete.params["propagationPolicy"] == "Background"
    assert await substrate.pools() == []
    await substrate.remove(POOL.func, POOL.sha)  # gone already (404): nothing to do


async def test_pools_come_from_a_watch_not_a_list_each_time(
    fake_api: kmock.KubernetesEmulator, substrate: KubernetesSubstrate
) -> None:
    assert await substrate.pools() == []
    listed = [r for r in calls(fake_api, "GET", DEPLOYMENTS) if r.params.get("watch") != "true"]
    assert [r.params["labelSelector"] for r in listed] == [
        "app.kubernetes.io/managed-by=funcatron-wf,app.kubernetes.io/component=runner"
    ]
    # another controller replica (or a person) makes a Runner Deployment
    other = Pool("other", "cd" * 32, func_task_queue("other", "cd" * 32), 1)
    made = runner_deployment(runner_template(), other)
    assert (await fake_api.post(DEPLOYMENTS, json=made)).status == 200

    async def seen() -> bool:
        return await substrate.pools() == [other]

    await eventually(seen)
    watches = [r for r in calls(fake_api, "GET", DEPLOYMENTS) if r.params.get("watch") == "true"]
    assert watches and watches[0].params["labelSelector"] == listed[0].params["labelSelector"]
    again = [r for r in calls(fake_api, "GET", DEPLOYMENTS) if r.params.get("watch") != "true"]
    assert len(again) == 1  # no list since the first


async def test_a_deployment_the_watch_has_not_shown_yet_answers_409_and_is_sized(
    fake_api: kmock.KubernetesEmulator, substrate: KubernetesSubstrate
) -> None:
    assert await substrate.pools() == []
    # made by someone else a moment ago: on the server, not yet in this watch
    await substrate.close()
    made = KubernetesSubstrate(substrate.api, NAMESPACE)
    await made.apply(Pool(POOL.func, POOL.sha, POOL.task_queue, 1))
    await made.close()
    substrate._deployments.clear()  # what this replica's watch has shown: nothing yet

    await substrate.apply(POOL)
    creates = calls(fake_api, "POST", DEPLOYMENTS)
    assert len(creates) == 2  # the other's, then this one, refused
    patches = calls(fake_api, "PATCH", f"{DEPLOYMENTS}/{NAME}")
    assert [p.data for p in patches] == [{"spec": {"replicas": 2}}]
    assert fake_api.objects["apps/v1/deployments", NAMESPACE, NAME]["spec"]["replicas"] == 2


async def test_keda_sizes_a_version_from_its_task_queue_on_a_fake_api_server(
    fake_api: kmock.KubernetesEmulator, substrate: KubernetesSubstrate
) -> None:
    await substrate.apply(POOL)
    uid = fake_api.objects["apps/v1/deployments", NAMESPACE, NAME]["metadata"]["uid"]

    scaled = await substrate.scale_with_keda(
        POOL, temporal="temporal-frontend.temporal:7233", namespace="default", max_replicas=10
    )
    [mark] = calls(fake_api, "PATCH", f"{DEPLOYMENTS}/{NAME}")
    assert mark.headers["Content-Type"] == "application/merge-patch+json"
    assert mark.data == {
        "metadata": {
            "annotations": {"funcatron.io/scaled-by": "keda", "funcatron.io/replicas": "2"}
        }
    }
    [create] = calls(fake_api, "POST", SCALED_OBJECTS)
    assert create.data["spec"] == scaled["spec"]  # (the fake adds a uid to what it keeps)
    assert scaled["spec"]["scaleTargetRef"] == {"name": NAME}
    assert (scaled["spec"]["minReplicaCount"], scaled["spec"]["maxReplicaCount"]) == (2, 10)
    [trigger] = scaled["spec"]["triggers"]
    assert trigger["type"] == "temporal"
    assert trigger["metadata"]["taskQueue"] == POOL.task_queue
    assert trigger["metadata"]["queueTypes"] == "activity"
    assert trigger["metadata"]["endpoint"] == "temporal-frontend.temporal:7233"
    [owner] = scaled["metadata"]["ownerReferences"]  # removed with the Deployment
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Deployment", NAME, uid)
    [waited] = [r for r in calls(fake_api, "GET", DEPLOYMENTS) if "fieldSelector" in r.params]
    assert waited.params["fieldSelector"] == f"metadata.name={NAME}"  # for the controller's
    assert waited.params["watch"] == "true"

    # KEDA scales it to 7: the pool still reports the Func's replicas, so the
    # controller leaves KEDA's size alone
    await fake_api.patch(f"{DEPLOYMENTS}/{NAME}", json={"spec": {"replicas": 7}})
    assert await substrate.pools() == [POOL]

    # a size asked for (`scale`, the autoscaler) is only noted: KEDA's stays
    await substrate.apply(Pool(POOL.func, POOL.sha, POOL.task_queue, 4))
    *_, noted = calls(fake_api, "PATCH", f"{DEPLOYMENTS}/{NAME}")
    assert noted.data == {"metadata": {"annotations": {"funcatron.io/replicas": "4"}}}
    assert not calls(fake_api, "PATCH", f"{SCALED_OBJECTS}/{NAME}")
    assert fake_api.objects["apps/v1/deployments", NAMESPACE, NAME]["spec"]["replicas"] == 7
    assert await substrate.pools() == [Pool(POOL.func, POOL.sha, POOL.task_queue, 4)]

    # deploying the same version again: 409, then its spec is replaced
    await substrate.scale_with_keda(
        POOL, temporal="temporal-frontend.temporal:7233", namespace="default", max_replicas=20
    )
    assert len(calls(fake_api, "POST", SCALED_OBJECTS)) == 2
    *_, replaced = calls(fake_api, "PATCH", f"{SCALED_OBJECTS}/{NAME}")
    assert replaced.data["spec"]["maxReplicaCount"] == 20


async def test_substrate_check_names_what_the_cluster_lacks_on_a_fake_api_server(
    fake_api: kmock.KubernetesEmulator,
) -> None:
    # the client asks /version/ and /apis/, which the fake serves only without the slash
    fake_api["get /apis/"] << {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
        {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}]},
    ]}  # fmt: skip
    fake_api["get /version/"] << {
        "major": "1", "minor": "33", "gitVersion": "v1.33.0", "gitCommit": "0" * 40,
        "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.24",
        "compiler": "gc", "platform": "linux/amd64",
    }  # fmt: skip
    reviews = fake_api["post /apis/authorization.k8s.io/v1/selfsubjectaccessreviews"]

    def review(request: kmock.Request) -> dict[str, Any]:
        # the fake keeps what is posted; the API server keeps no review
        del fake_api.objects["authorization.k8s.io/v1/selfsubjectaccessreviews", None, None]
        verb = request.data["spec"]["resourceAttributes"]["verb"]
        return {**request.data, "status": {"allowed": verb != "delete"}}  # a Role without delete

    reviews << review
    findings = await check_substrate(Settings(substrate="kubernetes"))
    lines = [finding.line() for finding in findings]
    assert lines[0].startswith("ok   the Kubernetes API at http://127.0.0.1"), lines
    assert lines[0].endswith("version v1.33.0")
    assert (
        "MISSING permission to manage Deployments in namespace 'funcatron': not allowed: delete"
        in lines[1]
    )
    assert lines[2] == "ok   the Runners' PodTemplate 'funcatron-runner'"
    assert lines[3].startswith("MISSING KEDA"), lines  # no keda.sh API group on this fake
    asked = {r.data["spec"]["resourceAttributes"]["verb"] for r in reviews}
    assert asked == {"get", "list", "watch", "create", "patch", "delete"}
