"""`funcatron-wf substrate check`: for the configured substrate, what this
machine can reach and what is missing, one finding a line, each missing
one saying what to do."""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from typing import Any

from funcatron_wf.deploy.kubernetes_objects import KEDA_API, RUNNER_CONTAINER
from funcatron_wf.engine.errors import FuncatronError
from funcatron_wf.engine.settings import Settings

# what the controller does to the Runner Deployments (deploy/kubernetes/base/controller.yaml)
DEPLOYMENT_VERBS = ("get", "list", "watch", "create", "patch", "delete")


@dataclass(frozen=True)
class Finding:
    ok: bool
    what: str
    detail: str = ""

    def line(self) -> str:
        return f"{'ok  ' if self.ok else 'MISSING'} {self.what}" + (
            f": {self.detail}" if self.detail else ""
        )


async def check_substrate(settings: Settings) -> list[Finding]:
    checks = {
        "local": check_local,
        "swarm": check_swarm,
        "kubernetes": check_kubernetes,
        "mesos": check_mesos,
    }
    return await checks[settings.substrate](settings)


async def check_local(settings: Settings) -> list[Finding]:
    found = shutil.which("funcatron-wf")
    return [
        Finding(
            found is not None, "the funcatron-wf command the Runners run", found or "not on PATH"
        )
    ]


async def check_swarm(settings: Settings) -> list[Finding]:
    from funcatron_wf.deploy.images import docker_client, latest_images

    try:
        client = await asyncio.to_thread(docker_client)
        info = await asyncio.to_thread(client.info)
    except Exception as err:
        return [Finding(False, "a Docker engine (DOCKER_HOST)", str(err))]
    findings = [Finding(True, "a Docker engine", str(info.get("ServerVersion", "")))]
    state = info.get("Swarm", {}).get("LocalNodeState", "inactive")
    findings.append(
        Finding(state == "active", "a swarm this engine belongs to",
                state if state == "active" else f"{state}: `docker swarm init`")
    )  # fmt: skip
    built = await asyncio.to_thread(latest_images, client)
    image = settings.image or (built.platform if built else None)
    if image is None:
        findings.append(Finding(False, "the platform's image", "none built: `funcatron-wf images build`"))  # fmt: skip
    else:
        findings.append(Finding(True, "the platform's image", image))
    return findings


async def check_kubernetes(settings: Settings) -> list[Finding]:
    from kubernetes import client

    from funcatron_wf.deploy.kubernetes_substrate import api_client_and_namespace

    try:
        api, namespace = api_client_and_namespace(settings)
    except FuncatronError as err:
        return [Finding(False, "a Kubernetes cluster (in a pod, or KUBECONFIG)", str(err))]
    host = api.configuration.host

    def reach() -> list[Finding]:
        try:
            version = client.VersionApi(api).get_code()
        except Exception as err:
            return [Finding(False, f"the Kubernetes API at {host}", _reason(err))]
        findings = [
            Finding(True, f"the Kubernetes API at {host}", f"version {version.git_version}")
        ]
        findings.append(_deployment_permissions(api, namespace))
        findings.append(_runner_template(api, namespace, settings.runner_template))
        findings.append(_keda(api))
        return findings

    return await asyncio.to_thread(reach)


def _deployment_permissions(api: Any, namespace: str) -> Finding:
    from kubernetes import client

    denied = []
    for verb in DEPLOYMENT_VERBS:
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(
                resource_attributes=client.V1ResourceAttributes(
                    group="apps", resource="deployments", verb=verb, namespace=namespace
                )
            )
        )
        answer = client.AuthorizationV1Api(api).create_self_subject_access_review(review)
        if not (answer.status and answer.status.allowed):
            denied.append(verb)
    what = f"permission to manage Deployments in namespace {namespace!r}"
    if denied:
        return Finding(False, what, f"not allowed: {', '.join(denied)} (deploy/kubernetes/base/controller.yaml has the Role)")  # fmt: skip
    return Finding(True, what, ", ".join(DEPLOYMENT_VERBS))


def _runner_template(api: Any, namespace: str, name: str) -> Finding:
    from kubernetes import client

    what = f"the Runners' PodTemplate {name!r}"
    try:
        template = client.CoreV1Api(api).read_namespaced_pod_template(name, namespace)
    except Exception as err:
        return Finding(False, what, f"{_reason(err)}: apply deploy/kubernetes")
    pod = template.template.spec if template.template else None
    containers = [c.name for c in (pod.containers if pod else [])]
    if RUNNER_CONTAINER not in containers:
        return Finding(False, what, f"no container named {RUNNER_CONTAINER!r} (has {containers})")
    return Finding(True, what)


def _keda(api: Any) -> Finding:
    from kubernetes import client

    try:
        groups = client.ApisApi(api).get_api_versions().groups or []
    except Exception as err:
        return Finding(False, "KEDA (for deploy --keda)", f"the API groups: {_reason(err)}")
    versions = {v.version for g in groups if g.name == KEDA_API[0] for v in g.versions}
    if KEDA_API[1] in versions:
        return Finding(True, "KEDA (for deploy --keda)", f"{KEDA_API[0]}/{KEDA_API[1]}")
    return Finding(
        False, "KEDA (for deploy --keda; not needed otherwise)", "no keda.sh/v1alpha1 API: KEDA 2.17+ is not installed"
    )  # fmt: skip


async def check_mesos(settings: Settings) -> list[Finding]:
    from funcatron_wf.deploy.cluster_substrates import marathon_substrate

    try:
        marathon = marathon_substrate(settings)
    except FuncatronError as err:
        return [Finding(False, "Marathon", str(err))]
    try:
        info = await marathon.info()
        findings = [
            Finding(True, f"Marathon at {settings.marathon_url}",
                    f"version {info.get('version')}, leader {info.get('leader')}")
        ]  # fmt: skip
        pools = await marathon.pools()
        findings.append(Finding(True, "the Runner apps", f"{len(pools)} now"))
        image = marathon.base_app.get("container", {}).get("docker", {}).get("image")
        findings.append(
            Finding(bool(image), "the Runner app definition's image", image or "none set")
        )
        return findings
    except FuncatronError as err:
        return [Finding(False, f"Marathon at {settings.marathon_url}", str(err))]
    finally:
        await marathon.close()


def _reason(err: Exception) -> str:
    status = getattr(err, "status", None)
    reason = getattr(err, "reason", None)
    return f"{status} {reason}" if status else str(err)
