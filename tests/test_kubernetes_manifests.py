"""The Kubernetes manifests the project ships (deploy/kubernetes/): kustomize
builds the base and the example overlay (`kubectl kustomize`, offline), and
every document validates against the Kubernetes OpenAPI schemas of two
versions (kubernetes-validate, offline); each workload runs as non-root
with a read-only root filesystem, probes and resource limits, and the
Trons and the front keep a PodDisruptionBudget. No cluster runs here: these
check the manifests, not their behaviour on one."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml

from funcatron_wf.deploy.kubernetes_objects import runner_deployment
from funcatron_wf.deploy.substrate import Pool
from funcatron_wf.deploy.substrate_check import DEPLOYMENT_VERBS
from funcatron_wf.engine.contracts import func_task_queue
from tests.conftest import REPO

KUBERNETES = REPO / "deploy" / "kubernetes"
VERSIONS = ("1.31.0", "1.37.0")  # the oldest and the newest this release supports
BUILDS = ("base", "overlays/example")


def built(path: str) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is missing (tools/system-deps installs Debian's kubernetes-client)"
    done = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES / path)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [document for document in yaml.safe_load_all(done.stdout) if document]


@pytest.mark.parametrize("path", BUILDS)
@pytest.mark.parametrize("version", VERSIONS)
def test_every_document_validates_against_the_kubernetes_schema(path: str, version: str) -> None:
    documents = built(path)
    assert documents
    for document in documents:
        kubernetes_validate.validate(document, version, strict=True)  # raises, naming the field


def pod_specs(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every pod the manifests run: the Deployments', and the Runners' PodTemplate."""
    specs = {
        document["metadata"]["name"]: document["spec"]["template"]["spec"]
        for document in documents
        if document["kind"] == "Deployment"
    }
    specs.update(
        (document["metadata"]["name"], document["template"]["spec"])
        for document in documents
        if document["kind"] == "PodTemplate"
    )
    return specs


def test_every_workload_is_locked_down_probed_and_bounded() -> None:
    specs = pod_specs(built("overlays/example"))
    assert {
        "funcatron-tron", "funcatron-front", "funcatron-source-orders",
        "funcatron-controller", "funcatron-runner",
    } <= specs.keys()  # fmt: skip
    for name, spec in specs.items():
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        for container in spec["containers"]:
            where = f"{name}/{container['name']}"
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert "readinessProbe" in container and "livenessProbe" in container, where
            assert container["resources"]["requests"] and container["resources"]["limits"], where
            assert container["image"].startswith("registry.example.com/"), where  # the overlay's


def test_the_trons_and_the_front_keep_a_disruption_budget() -> None:
    documents = built("base")
    budgets = {
        document["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"]
        for document in documents
        if document["kind"] == "PodDisruptionBudget"
    }
    assert budgets == {"funcatron-tron", "funcatron-front"}


def test_a_broken_manifest_is_caught() -> None:
    """The check itself: a wrong field is refused by the schema."""
    deployments = {d["metadata"]["name"]: d for d in built("base") if d["kind"] == "Deployment"}
    tron = deployments["funcatron-tron"]
    tron["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(tron, VERSIONS[0], strict=True)


def test_the_controller_may_do_what_the_kubernetes_substrate_does_and_no_more() -> None:
    documents = built("overlays/example")
    [role] = [
        d
        for d in documents
        if d["kind"] == "Role" and d["metadata"]["name"] == "funcatron-controller"
    ]
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert granted == {
        ("apps", "deployments"): set(DEPLOYMENT_VERBS),  # what `substrate check` asks for
        ("", "podtemplates"): {"get"},
        ("keda.sh", "scaledobjects"): {"get", "create", "patch"},
    }
    assert not any(d["kind"].startswith("Cluster") for d in documents)  # its namespace only
    [binding] = [d for d in documents if d["kind"] == "RoleBinding"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "funcatron-controller", "namespace": "funcatron"}
    ]
    controller = pod_specs(documents)["funcatron-controller"]
    assert controller["serviceAccountName"] == "funcatron-controller"
    [container] = controller["containers"]
    assert container["args"][0] == "controller"
    assert {"name": "FUNCATRON_SUBSTRATE", "value": "kubernetes"} in container["env"]


def test_the_runner_deployment_made_from_the_shipped_template_validates() -> None:
    """What the kubernetes substrate generates, from the template the overlay ships."""
    [template] = [d for d in built("overlays/example") if d["kind"] == "PodTemplate"]
    sha = "12" * 32
    deployment = runner_deployment(template, Pool("hello", sha, func_task_queue("hello", sha), 2))
    for version in VERSIONS:
        kubernetes_validate.validate(deployment, version, strict=True)
    [runner] = deployment["spec"]["template"]["spec"]["containers"]
    assert runner["image"].startswith("registry.example.com/funcatron-wf:")
