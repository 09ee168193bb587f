"""Settings, built once at each process's entry point.

Precedence: command-line flag > ``FUNCATRON_*`` environment variable >
default, decided here and nowhere else. An unknown ``FUNCATRON_*`` variable is
refused (a typo must not be silently ignored).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from funcatron_wf.engine.contracts import DEFAULT_HEARTBEAT_TIMEOUT, DEFAULT_INLINE_BODY_MAX
from funcatron_wf.engine.errors import ConfigError

ENV_PREFIX = "FUNCATRON_"


def split_host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:7233)")
    return host, int(port)


def _check_host_port(value: str | None) -> str | None:
    if value is not None:
        split_host_port(value)
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid")

    temporal: str | None = Field(
        None, description="HOST:PORT of an external Temporal frontend (gRPC); unset: embedded"
    )
    temporal_http: str | None = Field(
        None, description="HOST:PORT of that cluster's HTTP API, for the nginx front"
    )
    namespace: str = "default"
    temporal_tls: bool = Field(
        False,
        description="connect to Temporal with TLS (implied by the other TLS settings and "
        "by an API key)",
    )
    temporal_tls_ca: Path | None = Field(
        None,
        description="CA certificate (PEM) the Temporal frontend's is checked against; "
        "default: the system's",
    )
    temporal_tls_cert: Path | None = Field(
        None, description="client certificate (PEM) for mTLS, with FUNCATRON_TEMPORAL_TLS_KEY"
    )
    temporal_tls_key: Path | None = Field(None, description="the client certificate's key (PEM)")
    temporal_tls_server_name: str | None = Field(
        None, description="the name the frontend's certificate must carry; default: its host"
    )
    temporal_api_key: str | None = Field(
        None, description="an API key (Temporal Cloud), sent as a bearer token over TLS"
    )
    listen: str = Field("127.0.0.1", description="address the HTTP front listens on")
    port: int = Field(8080, ge=1, le=65535, description="port of the HTTP front")
    temporal_port: int = Field(7233, ge=1, le=65535, description="embedded server: gRPC port")
    temporal_ui_port: int = Field(8233, ge=1, le=65535, description="embedded server: UI port")
    temporal_http_port: int = Field(7243, ge=1, le=65535, description="embedded server: HTTP API")
    max_body_size: str = Field("1g", description="largest request body nginx accepts (then 413)")
    inline_body_max: int = Field(
        DEFAULT_INLINE_BODY_MAX, ge=1024, description="bodies above this go through the blob store"
    )
    blob_dir: Path | None = Field(None, description="the blob store; dev: one in its runtime dir")
    blob_retention: float = Field(
        24 * 3600.0,
        ge=60,
        description="seconds a body stays in the blob store before a Tron removes it; "
        "keep it longer than a request runs and its status URL and replays are read "
        "(a day, as the dev server keeps histories)",
    )
    spec_rewrite: str = Field(
        "", description="sed-style spec rewrites, one per line (engine/spec_rewriting.py)"
    )
    nginx_workers: int = Field(1, ge=1, description="nginx worker processes")
    request_summaries: bool = Field(
        True,
        description="each request's workflow carries a one-line summary the Temporal UI "
        "lists (about 3% of throughput under load: docs/performance.md)",
    )
    search_attributes: bool = Field(
        True,
        description="requests carry search attributes (FuncName, HttpStatus, ...) the Temporal "
        "UI and `requests` filter on (about 3% of throughput under load: docs/performance.md)",
    )
    log_format: Literal["json", "text"] = Field(
        "json", description="log lines as JSON objects, or as text (dev's default)"
    )
    heartbeat_timeout: float = Field(
        DEFAULT_HEARTBEAT_TIMEOUT,
        ge=0.5,
        description="seconds without a heartbeat before a Runner is taken for lost "
        "and its call runs again on another (registered with each Func)",
    )
    tron_http: str | None = Field(
        None,
        description="the Trons' front doors (HOST:PORT, several separated by commas), "
        "offered each request first, the next when one does not answer; none: the front "
        "starts every request itself (dev: one is started)",
    )

    fast_path: bool = Field(
        True,
        description="each Runner opens a door the Trons hand single-operation requests "
        "to: it starts the request's workflow and runs the operation in its first task "
        "(docs/performance.md); off: every request goes through the Trons' queue",
    )
    runner_listen: str = Field(
        "127.0.0.1",
        description="address each Runner's fast-path door listens on and is reached at "
        "(a port of the system's choosing; in a cluster, the Runner's own IP)",
    )

    substrate: Literal["local", "swarm", "kubernetes", "mesos"] = Field(
        "local",
        description="where the Runner pools run: processes on this machine, Docker Swarm "
        "services (the engine DOCKER_HOST names), Kubernetes Deployments, or Marathon apps "
        "on Mesos (the last two sized by `funcatron-wf controller` in the cluster)",
    )
    autoscale: bool = Field(
        True,
        description="size each Func version's pool from its task queue's backlog, within "
        "its x-funcatron-scale (`up` and `controller`); off: each pool keeps the size last "
        "decided for it (a new one its Func's replicas)",
    )
    tron_min: int = Field(
        1, ge=1, description="the fewest Trons the autoscaler leaves (they run every request)"
    )
    tron_max: int = Field(4, ge=1, description="the most Trons the autoscaler starts")
    kubernetes_namespace: str | None = Field(
        None,
        description="kubernetes: the namespace of the Runner Deployments; default: the "
        "pod's own, else the kubeconfig context's, else 'default'",
    )
    runner_template: str = Field(
        "funcatron-runner",
        description="kubernetes: the PodTemplate every Runner Deployment is made from",
    )
    keda_max_replicas: int = Field(
        10, ge=1, description="kubernetes --keda: the most Runners KEDA scales a version to"
    )
    marathon_url: str | None = Field(
        None, description="mesos: Marathon's address (http://HOST:8080)"
    )
    marathon_app: Path | None = Field(
        None,
        description="mesos: a JSON file with the app definition every Runner app starts "
        "from (container, resources, volumes); default: deploy/mesos/runner-app.json",
    )
    marathon_tron_app: str = Field(
        "/funcatron/tron",
        description="mesos: the Trons' Marathon app (yours), whose instances the controller sets",
    )
    image: str | None = Field(
        None, description="the platform's image on swarm (default: the newest `images build` made)"
    )
    front_image: str | None = Field(
        None, description="the HTTP front's image on swarm (default: the one built with the image)"
    )

    state_dir: Path | None = Field(
        None,
        description="the local platform's directory (`up`): its Temporal database, bundle "
        "store, logs, and where commands find the platform; default "
        "~/.local/state/funcatron-wf",
    )
    bundle_store: Path | None = Field(
        None, description="the bundle store (a directory; default: STATE_DIR/store)"
    )
    max_bundle_size: int = Field(
        512 * 1024 * 1024, ge=1024, description="largest bundle accepted, packed or unpacked"
    )

    amqp_url: str | None = Field(
        None, description="the RabbitMQ broker of the queue source; dev: one is started"
    )
    amqp_queue: str | None = Field(None, description="the durable queue the queue source consumes")
    amqp_prefetch: int = Field(
        32, ge=1, le=65535, description="messages the queue source works on at once"
    )
    amqp_operation: str | None = Field(
        None, description="FUNC:OPERATION_ID the queue is bound to (messages need no route)"
    )

    _check_addresses = field_validator("temporal", "temporal_http")(_check_host_port)

    @field_validator("tron_http")
    @classmethod
    def _check_front_doors(cls, value: str | None) -> str | None:
        if value is not None:
            for address in value.split(","):
                split_host_port(address.strip())
        return value

    @model_validator(mode="after")
    def _check_tron_bounds(self) -> Settings:
        if self.tron_min > self.tron_max:
            raise ValueError(
                f"FUNCATRON_TRON_MIN {self.tron_min} is above FUNCATRON_TRON_MAX {self.tron_max}"
            )
        return self

    @model_validator(mode="after")
    def _check_tls(self) -> Settings:
        if (self.temporal_tls_cert is None) != (self.temporal_tls_key is None):
            raise ValueError(
                "FUNCATRON_TEMPORAL_TLS_CERT and FUNCATRON_TEMPORAL_TLS_KEY go together (mTLS)"
            )
        for path in (self.temporal_tls_ca, self.temporal_tls_cert, self.temporal_tls_key):
            if path is not None and not path.is_file():
                raise ValueError(f"{path}: no such file (a Temporal TLS setting)")
        return self

    @property
    def temporal_uses_tls(self) -> bool:
        return self.temporal_tls or any(
            value is not None
            for value in (
                self.temporal_tls_ca,
                self.temporal_tls_cert,
                self.temporal_api_key,
                self.temporal_tls_server_name,
            )
        )

    @property
    def front_doors(self) -> list[str]:
        """The Trons' front doors, in the order to try them."""
        return [address.strip() for address in (self.tron_http or "").split(",") if address]

    @property
    def embedded_temporal(self) -> bool:
        return self.temporal is None

    @property
    def temporal_address(self) -> str:
        return self.temporal or f"127.0.0.1:{self.temporal_port}"

    @property
    def temporal_http_address(self) -> str:
        if self.temporal_http:
            return self.temporal_http
        if self.temporal:
            raise ConfigError(
                "--temporal-http (FUNCATRON_TEMPORAL_HTTP) is needed with --temporal: "
                "the HTTP front talks to Temporal's HTTP API"
            )
        return f"127.0.0.1:{self.temporal_http_port}"

    @property
    def temporal_ui_url(self) -> str | None:
        return None if self.temporal else f"http://127.0.0.1:{self.temporal_ui_port}"


def load_settings(**flags: Any) -> Settings:
    """Settings from flags (None = not given) over the environment over defaults."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    unknown = sorted(key for key in os.environ if key.startswith(ENV_PREFIX) and key not in known)
    if unknown:
        raise ConfigError(
            f"unknown setting {', '.join(unknown)}; valid ones are {', '.join(sorted(known))}"
        )
    try:
        return Settings(**{key: value for key, value in flags.items() if value is not None})
    except ValidationError as err:
        problems = "; ".join(
            f"{ENV_PREFIX}{str(e['loc'][0]).upper()} / --{str(e['loc'][0]).replace('_', '-')}: "
            f"{e['msg']}"
            if e["loc"]
            else str(e["msg"]).removeprefix("Value error, ")  # a rule across settings
            for e in err.errors()
        )
        raise ConfigError(f"invalid setting: {problems}") from err
