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
    return {
        document["metadata"]["name"]: document["spec"]["template"]["spec"]
        for document in documents
        if document["kind"] == "Deployment"
    }


def test_every_workload_is_locked_down_probed_and_bounded() -> None:
    specs = pod_specs(built("overlays/example"))
    assert {"funcatron-tron", "funcatron-front", "funcatron-source-orders"} <= specs.keys()
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
