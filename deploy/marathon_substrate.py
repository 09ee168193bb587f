"""The `mesos` substrate: each pool is one Marathon app of Runner tasks,
through Marathon's REST API (v2: apps, their instances, deployments) with
httpx. Every app starts from one app definition (deploy/mesos/runner-app.json,
or FUNCATRON_MARATHON_APP): the platform's image, resources, the shared
store; the substrate adds the version's id, labels and `--bundle SHA
--concurrency N`. Scaling sets `instances` (and `args`: Marathon restarts the
tasks, one at a time, only when the concurrency changed them); removing deletes the app (Mesos kills its tasks
with SIGTERM first: the Runners drain within taskKillGracePeriodSeconds, set
from the version's longest operation timeout).
"""

from __future__ import annotations

import copy
import json
import logging
import math
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from funcatron_wf.deploy.kubernetes_objects import label_safe
from funcatron_wf.deploy.substrate import Pool, runner_args
from funcatron_wf.engine.contracts import DEFAULT_CALL_CONCURRENCY
from funcatron_wf.engine.errors import ConfigError

logger = logging.getLogger(__name__)
APPS_GROUP = "/funcatron/runners"
TRON_APP = "/funcatron/tron"  # the Trons' app (yours, like base/tron.yaml): its instances are set
# labels Marathon keeps on each app (string values): what the pool is
FUNC, SHA, TASK_QUEUE, ROLE, CONCURRENCY = (
    "FUNCATRON_FUNC",
    "FUNCATRON_SHA",
    "FUNCATRON_TASK_QUEUE",
    "FUNCATRON_ROLE",
    "FUNCATRON_CONCURRENCY",
)


def default_app_definition() -> dict[str, Any]:
    text = resources.files("funcatron_wf.deploy").joinpath("mesos/runner-app.json").read_text()
    return dict(json.loads(text))


def app_definition_from(path: Path | None) -> dict[str, Any]:
    if path is None:
        return default_app_definition()
    try:
        found = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ConfigError(
            f"{path}: not a Marathon app definition (FUNCATRON_MARATHON_APP): {err}"
        ) from err
    if not isinstance(found, dict):
        raise ConfigError(f"{path}: a Marathon app definition is a JSON object")
    return found


def app_id(func: str, sha: str) -> str:
    return f"{APPS_GROUP}/{label_safe(func, 40)}-{sha[:12]}"


def runner_app(base: dict[str, Any], pool: Pool) -> dict[str, Any]:
    """The version's app: the base definition with its id, labels,
    instances and `--bundle SHA` after the base's args."""
    app = copy.deepcopy(base)
    app["id"] = app_id(pool.func, pool.sha)
    app["instances"] = pool.replicas
    app["args"] = [*app.get("args", ["runner"]), *runner_args(pool)]
    app["taskKillGracePeriodSeconds"] = math.ceil(pool.stop_grace)  # its calls drain first
    app["labels"] = {
        **app.get("labels", {}), ROLE: "runner", FUNC: pool.func, SHA: pool.sha,
        TASK_QUEUE: pool.task_queue, CONCURRENCY: str(pool.concurrency),
    }  # fmt: skip
    return app


class MarathonError(ConfigError):
    pass


class MarathonSubstrate:
    """``tron_app``: the Trons' own Marathon app, whose instances it sets."""

    def __init__(
        self, url: str, base_app: dict[str, Any], *, tron_app: str = TRON_APP,
        timeout: float = 10.0,
    ) -> None:  # fmt: skip
        self.base_app = base_app
        self.tron_app = tron_app
        self.http = httpx.AsyncClient(base_url=url, timeout=timeout)

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            reply = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as err:
            why = str(err) or type(err).__name__  # a timeout says nothing else
            raise MarathonError(f"Marathon at {self.http.base_url} did not answer: {why}") from err
        if reply.status_code >= 400 and reply.status_code not in (404, 409):
            raise MarathonError(
                f"Marathon refused {method} {path}: {reply.status_code} {_message(reply)}"
            )
        return reply

    async def pools(self) -> list[Pool]:
        reply = await self._call("GET", "/v2/apps", params={"label": f"{ROLE}==runner"})
        pools = []
        for app in reply.json().get("apps", []):
            labels = app.get("labels", {})
            if {FUNC, SHA, TASK_QUEUE} <= labels.keys():
                concurrency = int(labels.get(CONCURRENCY, DEFAULT_CALL_CONCURRENCY))
                pools.append(
                    Pool(
                        labels[FUNC],
                        labels[SHA],
                        labels[TASK_QUEUE],
                        int(app["instances"]),
                        concurrency,
                    )  # fmt: skip
                )
        return pools

    async def apply(self, pool: Pool) -> None:
        app = runner_app(self.base_app, pool)
        created = await self._call("POST", "/v2/apps", json=app)
        if created.status_code != 409:  # 409: it exists; set its instances
            return
        # a partial update: what a size or concurrency changes, the rest as it is
        update = {key: app[key] for key in ("instances", "args", "labels")}
        await self._update(f"/v2/apps{app_id(pool.func, pool.sha)}", update)

    async def _update(self, path: str, update: dict[str, Any]) -> None:
        scaled = await self._call("PUT", path, json=update)
        if scaled.status_code == 409:
            # locked by a deployment in progress (a start, a restart): a
            # scale may override it, as Marathon's own UI does
            running = await self._call("GET", "/v2/deployments")
            ids = [
                d.get("id")
                for d in running.json()
                if path[len("/v2/apps") :] in d.get("affectedApps", [])
            ]
            logger.info("scaling %s over its deployments %s", path, ids)
            await self._call("PUT", path, params={"force": "true"}, json=update)

    async def remove(self, func: str, sha: str) -> None:
        await self._call("DELETE", f"/v2/apps{app_id(func, sha)}")  # 404: gone already

    async def trons(self) -> int | None:
        reply = await self._call("GET", f"/v2/apps{self.tron_app}")
        if reply.status_code == 404:
            return None  # the Trons run elsewhere: not ours to size
        return int(reply.json()["app"]["instances"])

    async def size_trons(self, replicas: int) -> None:
        await self._update(f"/v2/apps{self.tron_app}", {"instances": replicas})

    async def info(self) -> dict[str, Any]:
        reply = await self._call("GET", "/v2/info")
        return dict(reply.json())

    async def close(self) -> None:
        await self.http.aclose()


def _message(reply: httpx.Response) -> str:
    try:
        return str(reply.json().get("message", reply.text))
    except (json.JSONDecodeError, AttributeError):
        return reply.text[:200]
