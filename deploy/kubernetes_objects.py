"""The Kubernetes objects the `kubernetes` substrate makes, as plain dicts:
one Deployment of Runner pods per Func version, made from the cluster's
Runner PodTemplate (deploy/kubernetes/base/runner-template.yaml), and,
with `deploy --keda`, a KEDA ScaledObject that sizes it from the
version's task queue. Pure functions, so the tests validate what they
make against the Kubernetes OpenAPI schemas offline."""

from __future__ import annotations

import copy
import math
import re
from typing import Any

from funcatron_wf.deploy.substrate import Pool, runner_args
from funcatron_wf.engine.contracts import DEFAULT_CALL_CONCURRENCY

MANAGED = {"app.kubernetes.io/managed-by": "funcatron-wf", "app.kubernetes.io/component": "runner"}
RUNNERS_SELECTOR = ",".join(f"{key}={value}" for key, value in MANAGED.items())
FUNC = "funcatron.io/func"  # label: the Func's name (label-safe); annotation: as it is
VERSION = "funcatron.io/version"  # label: the bundle SHA's first 12 digits
SHA = "funcatron.io/sha"  # annotation: the whole SHA (64 digits: too long for a label)
TASK_QUEUE = "funcatron.io/task-queue"  # annotation
SCALED_BY = "funcatron.io/scaled-by"  # annotation: "keda" once a ScaledObject sizes it
REPLICAS = "funcatron.io/replicas"  # annotation: the Func's replicas (KEDA's floor)
CONCURRENCY = "funcatron.io/concurrency"  # annotation: calls one Runner takes at once
RUNNER_CONTAINER = "runner"
TRON_DEPLOYMENT = "funcatron-tron"  # base/tron.yaml: the controller sets its replicas
KEDA_API = ("keda.sh", "v1alpha1", "scaledobjects")
# Runners a version's task queue may hold per Runner before KEDA adds one
KEDA_TARGET_QUEUE_SIZE = 5


def label_safe(value: str, limit: int) -> str:
    """A label value or name part: [a-z0-9-], starting and ending alphanumeric."""
    safe = re.sub(r"[^a-z0-9-]+", "-", value.lower())[:limit].strip("-")
    return safe or "func"


def deployment_name(func: str, sha: str) -> str:
    """``funcatron-r-<func>-<sha12>``: unique per version, within 63 characters."""
    return f"funcatron-r-{label_safe(func, 36)}-{sha[:12]}"


def pool_labels(pool: Pool) -> dict[str, str]:
    return {**MANAGED, FUNC: label_safe(pool.func, 63), VERSION: pool.sha[:12]}


def runner_deployment(template: dict[str, Any], pool: Pool) -> dict[str, Any]:
    """The version's Deployment: the PodTemplate's pod with the version's
    labels, its Runner container told which bundle to serve (fetched by
    SHA from the store when the pod starts)."""
    pod = copy.deepcopy(template.get("template") or {})
    metadata = pod.setdefault("metadata", {})
    labels = pool_labels(pool)
    metadata["labels"] = {**metadata.get("labels", {}), **labels}
    containers = pod.get("spec", {}).get("containers") or []
    runner = next((c for c in containers if c.get("name") == RUNNER_CONTAINER), None)
    if runner is None:
        raise ValueError(
            f"the Runner PodTemplate has no container named {RUNNER_CONTAINER!r} to run the bundle"
        )
    runner["args"] = [*runner.get("args", ["runner"]), *runner_args(pool)]
    # a pod scaled away drains its calls: none is cut short before its timeout
    pod.setdefault("spec", {})["terminationGracePeriodSeconds"] = math.ceil(pool.stop_grace)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": deployment_name(pool.func, pool.sha),
            "labels": labels,
            "annotations": {
                FUNC: pool.func,
                SHA: pool.sha,
                TASK_QUEUE: pool.task_queue,
                CONCURRENCY: str(pool.concurrency),
            },  # fmt: skip
        },
        "spec": {
            "replicas": pool.replicas,
            "selector": {"matchLabels": {FUNC: labels[FUNC], VERSION: labels[VERSION]}},
            "template": pod,
        },
    }


def pool_of(deployment: dict[str, Any]) -> Pool:
    """The pool a Runner Deployment is; a KEDA-sized one reports the
    Func's replicas, not KEDA's current size (the controller leaves it to KEDA)."""
    annotations = deployment["metadata"].get("annotations") or {}
    if annotations.get(SCALED_BY) == "keda":
        replicas = int(annotations.get(REPLICAS, "1"))
    else:
        replicas = int(deployment.get("spec", {}).get("replicas", 1))
    concurrency = int(annotations.get(CONCURRENCY, DEFAULT_CALL_CONCURRENCY))
    return Pool(annotations[FUNC], annotations[SHA], annotations[TASK_QUEUE], replicas, concurrency)


def scaled_object(
    deployment: dict[str, Any], *, temporal: str, namespace: str, max_replicas: int
) -> dict[str, Any]:
    """KEDA's ScaledObject for a Runner Deployment: its Temporal scaler
    watches the version's task queue (activities; KEDA 2.17 or newer). It is
    owned by the Deployment, so it goes when the controller removes the pool."""
    metadata = deployment["metadata"]
    pool = pool_of(deployment)
    return {
        "apiVersion": "/".join(KEDA_API[:2]),
        "kind": "ScaledObject",
        "metadata": {
            "name": metadata["name"],
            "labels": metadata["labels"],
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": metadata["name"],
                    "uid": metadata["uid"],
                },
            ],  # fmt: skip
        },
        "spec": {
            "scaleTargetRef": {"name": metadata["name"]},
            "minReplicaCount": pool.replicas,
            "maxReplicaCount": max(max_replicas, pool.replicas),
            "triggers": [
                {
                    "type": "temporal",
                    "metadata": {
                        "endpoint": temporal,
                        "namespace": namespace,
                        "taskQueue": pool.task_queue,
                        "queueTypes": "activity",
                        "targetQueueSize": str(KEDA_TARGET_QUEUE_SIZE),
                    },
                }
            ],
        },
    }
