"""A FAKE Kubernetes API server for the tests (no real one runs here):
kmock's emulator, plus what the API server adds to an object it creates
(its namespace, a uid), and a kubeconfig that names it."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import kmock
import yaml

from tests.conftest import REPO

NAMESPACE = "funcatron"
TOKEN = "fake-token"


class FakeApiServer(kmock.KubernetesEmulator):
    async def _handle(self, request: kmock.Request) -> Any:
        if request.action == kmock.action.CREATE and isinstance(request.data, dict):
            metadata = request.data.setdefault("metadata", {})
            metadata.setdefault("namespace", request.namespace)
            metadata.setdefault("uid", str(uuid.uuid4()))
        return await super()._handle(request)


def runner_template() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "deploy/kubernetes/base/runner-template.yaml").read_text()))


def tron_deployment() -> dict[str, Any]:
    documents = yaml.safe_load_all((REPO / "deploy/kubernetes/base/tron.yaml").read_text())
    return next(doc for doc in documents if doc["kind"] == "Deployment")


def set_up(server: kmock.KubernetesEmulator, folder: Path) -> Path:
    """The server with the API groups the platform uses, the Runners'
    PodTemplate and the Trons' Deployment applied; the kubeconfig that names it (a bearer token, the
    namespace in its context)."""
    server.resources["apps/v1/deployments"] = {"kind": "Deployment", "namespaced": True}
    server.resources["keda.sh/v1alpha1/scaledobjects"] = {
        "kind": "ScaledObject",
        "namespaced": True,
    }
    server.objects["v1/podtemplates", NAMESPACE, "funcatron-runner"] = runner_template()
    server.objects["apps/v1/deployments", NAMESPACE, "funcatron-tron"] = tron_deployment()
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": str(server.url).rstrip("/")}}],
        "users": [{"name": "u", "user": {"token": TOKEN}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "u", "namespace": NAMESPACE}}],
    }  # fmt: skip
    kubeconfig = folder / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    return kubeconfig
