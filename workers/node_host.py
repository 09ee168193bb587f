"""The Node.js language host: a JavaScript Func folder (one with a
``package.json``) served by `node workers/node/host.mjs`, one process per
Func version, over the host protocol (workers/host_process.py). The Func
requires the small `funcatron` package (workers/node/funcatron: Response,
HTTPError), which the host resolves for CommonJS and ES modules alike."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from funcatron_wf.engine.contracts import Route
from funcatron_wf.engine.errors import ConfigError, FuncFolderError
from funcatron_wf.workers.host_process import START_TIMEOUT, HostProcess, load_problems

NODE_DIR = Path(__file__).parent / "node"
HOST_SCRIPT = NODE_DIR / "host.mjs"
MIN_NODE = 18


def is_node_folder(folder: Path) -> bool:
    return (folder / "package.json").is_file()


def node_binary() -> str:
    found = shutil.which("node")
    if found is None:
        raise ConfigError(
            f"a JavaScript Func needs Node.js {MIN_NODE} or newer: no `node` on PATH "
            "(Debian: apt-get install nodejs)"
        )
    return found


def _operation_ids(routes: Iterable[Route]) -> list[str]:
    return list(dict.fromkeys(r.operation_id for r in routes if r.chain is None))


def node_command(folder: Path, routes: Iterable[Route], *, check: bool = False) -> list[str]:
    operations = json.dumps(_operation_ids(routes))
    return [
        node_binary(),
        str(HOST_SCRIPT),
        str(folder),
        operations,
        *(["--check"] if check else []),
    ]


def node_environment() -> dict[str, str]:
    # `require("funcatron")` from a CommonJS Func finds the platform's package
    return {**os.environ, "NODE_PATH": str(NODE_DIR)}


def node_host(folder: Path, routes: Iterable[Route], *, broken_ok: bool = False) -> HostProcess:
    """The host for the folder's operations (started by its first call or ``start``)."""
    routes = list(routes)
    return HostProcess(
        "Node", folder, node_command(folder, routes), operation_ids=_operation_ids(routes),
        env=node_environment(), broken_ok=broken_ok,
    )  # fmt: skip


def check_node_folder(folder: Path, routes: Iterable[Route]) -> None:
    """Load the folder's operations in a Node host, then stop it: a
    FuncFolderError naming each operation whose code does not load (`dev`,
    `deploy` and `bundle` refuse such a Func)."""
    try:
        done = subprocess.run(
            node_command(folder, routes, check=True), env=node_environment(), cwd=folder,
            capture_output=True, text=True, timeout=START_TIMEOUT, check=False,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired as err:
        raise FuncFolderError(
            str(folder), f"Node did not load it within {START_TIMEOUT:.0f} s"
        ) from err
    said = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    ready = next((message for message in said if message.get("type") == "ready"), None)
    if ready is None:
        why = done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}"
        raise FuncFolderError(str(folder), f"Node could not load it: {why}")
    if ready.get("problems"):
        raise load_problems(folder, ready["problems"])
