"""The Node.js language host: a JavaScript Func folder (one with a
``package.json``) served by `node workers/node/host.mjs`, one process per
Func version, over the host protocol (workers/host_process.py). The Func
requires the small `funcatron` package (workers/node/funcatron: Response,
HTTPError), which the host resolves for CommonJS and ES modules alike."""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from funcatron_wf.engine.contracts import Route
from funcatron_wf.engine.errors import ConfigError
from funcatron_wf.workers.host_process import HostProcess, check_folder, code_operations

NODE_DIR = Path(__file__).parent / "node"
HOST_SCRIPT = NODE_DIR / "host.mjs"
MIN_NODE = (18, 19)  # module.register


def is_node_folder(folder: Path) -> bool:
    """A package.json, and no Python module beside it (a Python Func may
    keep a package.json for its tools)."""
    return (folder / "package.json").is_file() and not any(folder.glob("*.py"))


@functools.cache
def node_binary() -> str:
    """`node`, new enough for the host's module hooks (module.register)."""
    found = shutil.which("node")
    wanted = ".".join(map(str, MIN_NODE))
    if found is None:
        raise ConfigError(
            f"a JavaScript Func needs Node.js {wanted} or newer: no `node` on PATH "
            "(Debian: apt-get install nodejs)"
        )
    said = subprocess.run([found, "--version"], capture_output=True, text=True, check=False)
    version = tuple(int(part) for part in re.findall(r"\d+", said.stdout)[:2])
    if version < MIN_NODE:
        raise ConfigError(
            f"a JavaScript Func needs Node.js {wanted} or newer; {found} is {said.stdout.strip()}"
        )
    return found


def node_command(folder: Path, routes: Iterable[Route]) -> list[str]:
    operations = json.dumps(code_operations(routes))
    return [node_binary(), str(HOST_SCRIPT), str(folder), operations]


def node_environment() -> dict[str, str]:
    # `require("funcatron")` from a CommonJS Func finds the platform's package
    return {**os.environ, "NODE_PATH": str(NODE_DIR)}


def node_host(folder: Path, routes: Iterable[Route], *, broken_ok: bool = False) -> HostProcess:
    """The host for the folder's operations (started by its first call or ``start``)."""
    routes = list(routes)
    return HostProcess(
        "Node", folder, node_command(folder, routes), operation_ids=code_operations(routes),
        env=node_environment(), broken_ok=broken_ok,
    )  # fmt: skip


def check_node_folder(folder: Path, routes: Iterable[Route]) -> None:
    """Load the folder's operations in a Node host, then stop it (host_process.check_folder)."""
    check_folder("Node", folder, node_command(folder, routes), node_environment())
