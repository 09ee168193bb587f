"""The `kubernetes` substrate: each pool is one Deployment of Runner pods
(deploy/kubernetes_objects.py), in the namespace the platform runs in,
through the official `kubernetes` client: created from the cluster's
Runner PodTemplate, its replicas patched to scale, deleted to remove (its
pods get SIGTERM: the Runners stop polling and finish what they hold
within the template's grace period).

The controller asks for the pools about once a second; they come from a
list-then-watch of the Runner Deployments kept in memory (as Kubernetes'
own controllers do), not from a request to the API server each time.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path
from typing import Any

from funcatron_wf.deploy.kubernetes_objects import (
    CONCURRENCY,
    KEDA_API,
    MANAGED,
    REPLICAS,
    RUNNERS_SELECTOR,
    SCALED_BY,
    TRON_DEPLOYMENT,
    deployment_name,
    pool_of,
    runner_deployment,
    scaled_object,
)
from funcatron_wf.deploy.substrate import Pool
from funcatron_wf.engine.errors import ConfigError
from funcatron_wf.engine.settings import Settings

logger = logging.getLogger(__name__)
IN_CLUSTER_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
JSON = "application/json"  # said, though the API server takes it for granted
MERGE_PATCH = "application/merge-patch+json"  # the API server reads a patch by its type
WATCH_SECONDS = 300  # the API server ends a watch about then; it is opened again
SYNC_TIMEOUT = 30.0
DEPLOYMENT_WAIT = 60  # seconds `deploy --keda` waits for the controller's Deployment


def new_watch() -> Any:
    from kubernetes import watch

    module: Any = watch  # untyped
    return module.Watch()


def api_client_and_namespace(settings: Settings) -> tuple[Any, str]:
    """In a pod: its service account and namespace; elsewhere the kubeconfig
    (KUBECONFIG, ~/.kube/config) and its context's namespace.
    FUNCATRON_KUBERNETES_NAMESPACE overrides the namespace."""
    from kubernetes import client
    from kubernetes import config as kube_config

    config: Any = kube_config  # untyped
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = client.Configuration()
        config.load_incluster_config(client_configuration=configuration)
        namespace = (
            IN_CLUSTER_NAMESPACE.read_text().strip() if IN_CLUSTER_NAMESPACE.is_file() else None
        )
        api = client.ApiClient(configuration)
    else:
        try:
            # read KUBECONFIG now: the client reads it once, when imported
            files = os.environ.get("KUBECONFIG") or None
            api = config.new_client_from_config(config_file=files)
            _, context = config.list_kube_config_contexts(config_file=files)
        except config.ConfigException as err:
            raise ConfigError(f"no Kubernetes cluster to talk to: {err}") from err
        namespace = context.get("context", {}).get("namespace")
    return api, settings.kubernetes_namespace or namespace or "default"


def _runner_pool(deployment: dict[str, Any]) -> bool:
    """One of ours (the selector's labels): not the Trons', nor anyone's."""
    labels = deployment.get("metadata", {}).get("labels") or {}
    return all(labels.get(key) == value for key, value in MANAGED.items())


class KubernetesSubstrate:
    def __init__(self, api: Any, namespace: str, *, template: str = "funcatron-runner") -> None:
        from kubernetes import client

        self.api = api
        self.namespace = namespace
        self.template = template
        # typed loosely: the objects go in and out as JSON dicts
        self.apps: Any = client.AppsV1Api(api)
        self.core: Any = client.CoreV1Api(api)
        self.custom: Any = client.CustomObjectsApi(api)
        self._deployments: dict[str, dict[str, Any]] = {}  # name -> the Deployment, as JSON
        self._lock = threading.Lock()
        self._synced = threading.Event()
        self._closing = threading.Event()
        self._watcher: threading.Thread | None = None
        self._watch: Any = None  # the open watch, shut down by close()

    # --- the Runner Deployments, listed then watched --------------------------

    def _keep_watching(self) -> None:
        from kubernetes.client.exceptions import ApiException

        while not self._closing.is_set():
            try:
                listed = self.apps.list_namespaced_deployment(
                    self.namespace, label_selector=RUNNERS_SELECTOR
                )
                found = [self.api.sanitize_for_serialization(item) for item in listed.items]
                with self._lock:
                    self._deployments = {
                        each["metadata"]["name"]: each for each in found if _runner_pool(each)
                    }
                self._synced.set()
                self._watch = new_watch()
                stream = self._watch.stream(
                    self.apps.list_namespaced_deployment, self.namespace,
                    label_selector=RUNNERS_SELECTOR, resource_version=listed.metadata.resource_version,
                    timeout_seconds=WATCH_SECONDS,
                )  # fmt: skip
                for event in stream:
                    self._seen(event["type"], event["raw_object"])
                    if self._closing.is_set():
                        return
            except ApiException as err:
                if err.status != 410:  # 410 Gone: the version is too old; list again
                    logger.warning("watching the Runner Deployments: %s; again in 1s", err.reason)
                    self._closing.wait(1.0)
            except Exception as err:
                if self._closing.is_set():
                    return  # close() shut the watch down
                logger.warning("watching the Runner Deployments: %s; again in 1s", err)
                self._closing.wait(1.0)

    def _seen(self, kind: str, deployment: dict[str, Any]) -> None:
        name = deployment.get("metadata", {}).get("name")
        if not name or kind not in ("ADDED", "MODIFIED", "DELETED"):
            return  # a BOOKMARK, or an ERROR the next list recovers from
        if not _runner_pool(deployment):
            return  # the selector should not have sent it
        with self._lock:
            if kind == "DELETED":
                self._deployments.pop(name, None)
            else:
                self._deployments[name] = deployment

    async def _watching(self) -> None:
        if self._watcher is None:
            self._watcher = threading.Thread(
                target=self._keep_watching, name="runner-deployments-watch", daemon=True
            )
            self._watcher.start()
        if not await asyncio.to_thread(self._synced.wait, SYNC_TIMEOUT):
            raise ConfigError(
                f"could not list the Deployments in namespace {self.namespace!r} "
                "(see `funcatron-wf substrate check`)"
            )

    async def close(self) -> None:
        """Stop watching: the open watch's socket is shut down, which ends
        the read that waits for its next event."""
        self._closing.set()
        for _ in range(50):  # the watch may be opening still: its response comes soon
            if self._watcher is None or not self._watcher.is_alive():
                return
            response = getattr(self._watch, "_resp", None)  # the client keeps no public handle
            if response is not None:
                response.shutdown()
            await asyncio.sleep(0.1)

    # --- the substrate interface ----------------------------------------------

    async def pools(self) -> list[Pool]:
        await self._watching()
        with self._lock:
            return [pool_of(deployment) for deployment in self._deployments.values()]

    async def apply(self, pool: Pool) -> None:
        await self._watching()
        await asyncio.to_thread(self._apply_now, pool)

    def _apply_now(self, pool: Pool) -> None:
        from kubernetes.client.exceptions import ApiException

        name = deployment_name(pool.func, pool.sha)
        with self._lock:
            known = self._deployments.get(name)
        if known is None:
            try:
                body = runner_deployment(self.runner_template(), pool)
                body["metadata"]["namespace"] = self.namespace
                created = self.apps.create_namespaced_deployment(
                    self.namespace, body, _headers={"Content-Type": JSON}
                )
                self._seen("ADDED", self.api.sanitize_for_serialization(created))
                return
            except ApiException as err:
                if err.status != 409:
                    raise
                # 409: it exists (the watch had not shown it yet): size it below
        else:
            was = pool_of(known)
            if was.concurrency != pool.concurrency:
                known = self._replace_pods(name, pool)
                self._seen("MODIFIED", known)
            if was.replicas == pool.replicas:
                return
        self._seen("MODIFIED", self._resize(name, pool.replicas, known))

    def _replace_pods(self, name: str, pool: Pool) -> dict[str, Any]:
        """New pods (the Deployment's rolling update; the old ones drain),
        from the PodTemplate as it is now, for the pool's new concurrency."""
        fresh = runner_deployment(self.runner_template(), pool)
        patch = {
            "metadata": {"annotations": {CONCURRENCY: str(pool.concurrency)}},
            "spec": {"template": fresh["spec"]["template"]},
        }
        return self._patch_deployment(name, patch)

    def _resize(self, name: str, replicas: int, known: dict[str, Any] | None) -> dict[str, Any]:
        annotations = (known or {}).get("metadata", {}).get("annotations") or {}
        if annotations.get(SCALED_BY) == "keda":
            # KEDA sizes it, from its ScaledObject: the size asked for is only noted
            patch: dict[str, Any] = {"metadata": {"annotations": {REPLICAS: str(replicas)}}}
        else:
            patch = {"spec": {"replicas": replicas}}
        return self._patch_deployment(name, patch)

    def _patch_deployment(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A merge patch of one Deployment; the Deployment after it."""
        patched = self.apps.patch_namespaced_deployment(
            name, self.namespace, patch, _content_type=MERGE_PATCH
        )
        return dict(self.api.sanitize_for_serialization(patched))

    def runner_template(self) -> dict[str, Any]:
        from kubernetes.client.exceptions import ApiException

        try:
            found = self.core.read_namespaced_pod_template(self.template, self.namespace)
        except ApiException as err:
            if err.status == 404:
                raise ConfigError(
                    f"no PodTemplate {self.template!r} in namespace {self.namespace!r}: apply "
                    "deploy/kubernetes (it has the Runners' template), or set "
                    "FUNCATRON_RUNNER_TEMPLATE"
                ) from err
            raise
        return dict(self.api.sanitize_for_serialization(found))

    async def remove(self, func: str, sha: str) -> None:
        def remove_now() -> None:
            from kubernetes.client.exceptions import ApiException

            name = deployment_name(func, sha)
            try:
                # its ReplicaSet and pods go after it; a ScaledObject it owns too
                self.apps.delete_namespaced_deployment(
                    name, self.namespace, propagation_policy="Background"
                )
            except ApiException as err:
                if err.status != 404:
                    raise
            with self._lock:
                self._deployments.pop(name, None)

        await asyncio.to_thread(remove_now)

    async def trons(self) -> int | None:
        """The Trons' Deployment's size (base/tron.yaml); None without one."""

        def read() -> int | None:
            from kubernetes.client.exceptions import ApiException

            try:
                found = self.apps.read_namespaced_deployment(TRON_DEPLOYMENT, self.namespace)
            except ApiException as err:
                if err.status == 404:
                    return None
                raise
            return int(found.spec.replicas or 0)

        return await asyncio.to_thread(read)

    async def size_trons(self, replicas: int) -> None:
        await asyncio.to_thread(
            self._patch_deployment, TRON_DEPLOYMENT, {"spec": {"replicas": replicas}}
        )

    # --- KEDA -----------------------------------------------------------------

    def _await_deployment(self, name: str, timeout: int = DEPLOYMENT_WAIT) -> None:
        """The controller makes a version's Deployment about a second after
        the Registry names the version: wait for it, on a watch of that name
        (a watch opened without a version first shows what exists)."""
        watch = new_watch()
        stream = watch.stream(
            self.apps.list_namespaced_deployment, self.namespace,
            field_selector=f"metadata.name={name}", timeout_seconds=timeout,
        )  # fmt: skip
        for event in stream:
            if event["type"] in ("ADDED", "MODIFIED") and (
                event["raw_object"].get("metadata", {}).get("name") == name
            ):
                watch.stop()
                return
        raise ConfigError(
            f"no Deployment {name} in namespace {self.namespace!r} after {timeout}s: is "
            "`funcatron-wf controller` running there with FUNCATRON_SUBSTRATE=kubernetes?"
        )

    async def scale_with_keda(
        self, pool: Pool, *, temporal: str, namespace: str, max_replicas: int
    ) -> dict[str, Any]:
        """Hand the pool's size to KEDA: a ScaledObject on its task queue
        (created, or its spec replaced), and the Deployment marked so the
        controller no longer sets its replicas. The ScaledObject, as sent."""

        def now() -> dict[str, Any]:
            from kubernetes.client.exceptions import ApiException

            name = deployment_name(pool.func, pool.sha)
            self._await_deployment(name)
            deployment = self._patch_deployment(
                name,
                {"metadata": {"annotations": {SCALED_BY: "keda", REPLICAS: str(pool.replicas)}}},
            )
            wanted = scaled_object(
                deployment, temporal=temporal, namespace=namespace, max_replicas=max_replicas
            )
            group, version, plural = KEDA_API
            try:
                self.custom.create_namespaced_custom_object(
                    group, version, self.namespace, plural, wanted, _headers={"Content-Type": JSON}
                )
            except ApiException as err:
                if err.status != 409:
                    raise
                self.custom.patch_namespaced_custom_object(
                    group, version, self.namespace, plural, name,
                    {"spec": wanted["spec"]}, _content_type=MERGE_PATCH,
                )  # fmt: skip
            self._seen("MODIFIED", deployment)
            return wanted

        return await asyncio.to_thread(now)
