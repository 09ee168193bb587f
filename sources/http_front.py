"""The nginx + Lua HTTP front: render its config and run nginx.

The Lua module (sources/http-lua/funcatron.lua) turns HTTP into request
envelopes and back; this module renders its config (addresses, limits, and
the names and codes it shares with the engine, from engine/contracts.py) and
starts nginx in the foreground, so it is stopped by pid like every other
process we start.
"""

from __future__ import annotations

import json
import os
import re
import string
import subprocess
import sysconfig
from pathlib import Path
from typing import Any

from funcatron_wf.deploy.processes import ManagedProcess
from funcatron_wf.engine.blobs import INCOMING
from funcatron_wf.engine.contracts import (
    BLOB_SUFFIX,
    DEFAULT_OPERATION_TIMEOUT,
    FRONT_DOOR_ACCEPTED,
    FRONT_DOOR_ANSWERED,
    FRONT_DOOR_PATH,
    FRONT_DOOR_STARTED,
    IDEMPOTENCY_KEY_HEADER,
    REQUEST_BODIES,
    REQUEST_ID_PATTERN,
    REQUEST_WORKFLOW_TYPE,
    RESPONSE_BODIES,
    STATUS_URL_PREFIX,
    TRON_TASK_QUEUE,
)
from funcatron_wf.engine.errors import ConfigError, ServiceStartError
from funcatron_wf.engine.settings import Settings
from funcatron_wf.engine.starting import (
    HTTP_API_ID_CONFLICT_POLICY,
    HTTP_API_ID_REUSE_POLICY,
    HTTP_API_WORKFLOW_TASK_TIMEOUT,
)

LUA_DIR = Path(__file__).resolve().parent / "http-lua"
# nginx's internal location that proxies Lua's subrequests to the Tron's front door
FRONT_DOOR_LOCATION = "/_front_door"
NGINX = "/usr/sbin/nginx"
REQUIRED_FILES = {
    NGINX: "nginx",
    "/usr/lib/nginx/modules/ngx_http_lua_module.so": "libnginx-mod-http-lua",
    f"/usr/lib/{sysconfig.get_config_var('MULTIARCH') or 'x86_64-linux-gnu'}/lua/5.1/cjson.so": (
        "lua-cjson"
    ),
}


class NginxTemplate(string.Template):
    delimiter = "%%"  # nginx keeps $ for its own variables


def lua_config(settings: Settings, blob_dir: Path) -> dict[str, Any]:
    """What the Lua module's configure() gets: this front's settings and the
    names and codes it shares with the engine, from their one definition."""
    return {
        "namespace": settings.namespace,
        "max_body_size": settings.max_body_size,
        "blob_dir": str(blob_dir),
        "front_door": settings.tron_http is not None,
        "front_door_location": FRONT_DOOR_LOCATION,
        # starting a request itself (no front door answered): as start_request does
        "task_queue": TRON_TASK_QUEUE,
        "workflow_type": REQUEST_WORKFLOW_TYPE,
        "id_reuse_policy": HTTP_API_ID_REUSE_POLICY,
        "id_conflict_policy": HTTP_API_ID_CONFLICT_POLICY,
        "workflow_task_timeout": HTTP_API_WORKFLOW_TASK_TIMEOUT,
        # the front door's wire protocol
        "front_door_path": FRONT_DOOR_PATH,
        "front_door_started": FRONT_DOOR_STARTED,
        "front_door_accepted": FRONT_DOOR_ACCEPTED,
        "front_door_answered": FRONT_DOOR_ANSWERED,
        "status_url_prefix": STATUS_URL_PREFIX,
        # how long a started request waits out an engine it lost sight of,
        # when the front door did not say (its operation's timeout)
        "lost_wait": DEFAULT_OPERATION_TIMEOUT,
        "idempotency_key_header": IDEMPOTENCY_KEY_HEADER,
        # blob refs
        "request_bodies": REQUEST_BODIES,
        "response_bodies": RESPONSE_BODIES,
        "blob_suffix": BLOB_SUFFIX,
    }


def render_config(settings: Settings, runtime_dir: Path) -> str:
    if settings.blob_dir is None:
        raise ConfigError("the HTTP front needs a blob store: set --blob-dir / FUNCATRON_BLOB_DIR")
    template = NginxTemplate((LUA_DIR / "nginx.conf.template").read_text())
    return template.substitute(
        worker_processes=settings.nginx_workers,
        runtime_dir=runtime_dir,
        lua_dir=LUA_DIR,
        lua_config=json.dumps(lua_config(settings, settings.blob_dir)),
        temporal_http=settings.temporal_http_address,
        temporal_http_scheme="https" if settings.temporal_uses_tls else "http",
        temporal_http_tls=temporal_http_tls(settings),
        listen=settings.listen,
        port=settings.port,
        max_body_size=settings.max_body_size,
        inline_body_max=settings.inline_body_max,
        blob_dir=settings.blob_dir,
        blob_incoming=INCOMING,
        front_door_location=FRONT_DOOR_LOCATION,
        status_url_prefix=STATUS_URL_PREFIX,
        request_id_pattern=REQUEST_ID_PATTERN,
        # nginx wants a server in every upstream, even one Lua never uses
        front_door_servers="\n".join(
            f"        server {address};" for address in settings.front_doors or ["127.0.0.1:9"]
        ),
    )


# Debian's bundle of the system's CAs, for a cluster whose CA is not given
SYSTEM_CAS = "/etc/ssl/certs/ca-certificates.crt"


def temporal_http_tls(settings: Settings) -> str:
    """nginx directives for Temporal's HTTP API over TLS (mTLS, an API key),
    from the same FUNCATRON_TEMPORAL_TLS_* settings the workers connect with."""
    if not settings.temporal_uses_tls:
        return ""
    host = settings.temporal_tls_server_name or settings.temporal_http_address.rsplit(":", 1)[0]
    lines = [
        "proxy_ssl_server_name on;",
        f"proxy_ssl_name {host};",
        "proxy_ssl_verify on;",
        "proxy_ssl_verify_depth 4;",
        f"proxy_ssl_trusted_certificate {settings.temporal_tls_ca or SYSTEM_CAS};",
        "proxy_ssl_session_reuse on;",
    ]
    if settings.temporal_tls_cert is not None:
        lines += [
            f"proxy_ssl_certificate {settings.temporal_tls_cert};",
            f"proxy_ssl_certificate_key {settings.temporal_tls_key};",
        ]
    if settings.temporal_api_key is not None:
        if not re.fullmatch(r"[A-Za-z0-9._~+/=-]+", settings.temporal_api_key):
            raise ConfigError("FUNCATRON_TEMPORAL_API_KEY holds characters an API key never has")
        lines.append(f'proxy_set_header Authorization "Bearer {settings.temporal_api_key}";')
    return "".join(f"            {line}\n" for line in lines)


def check_nginx_installed() -> None:
    missing = [package for path, package in REQUIRED_FILES.items() if not Path(path).exists()]
    if missing:
        raise ServiceStartError(
            "the HTTP front needs Debian's "
            + ", ".join(missing)
            + "; install with: apt-get install nginx libnginx-mod-http-lua lua-cjson "
            "(make demo does this)"
        )


def nginx_front(settings: Settings, runtime_dir: Path) -> ManagedProcess:
    """Write the config, check it with `nginx -t`, and return the (unstarted) process."""
    check_nginx_installed()
    config_path = runtime_dir / "nginx.conf"
    config_path.unlink(missing_ok=True)
    # readable by its owner only from the start: it may hold an API key
    with os.fdopen(os.open(config_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(render_config(settings, runtime_dir))
    argv = [
        NGINX,
        "-p",
        str(runtime_dir),
        "-c",
        str(config_path),
        "-e",
        str(runtime_dir / "error.log"),
    ]
    checked = subprocess.run(argv + ["-t", "-q"], capture_output=True, text=True, check=False)
    if checked.returncode != 0:
        raise ServiceStartError(f"nginx refused its config {config_path}: {checked.stderr.strip()}")
    return ManagedProcess("nginx", argv + ["-g", "daemon off;"], log_path=runtime_dir / "nginx.out")
