"""tools/system-deps installs only what is missing, tool by tool, and never a
package that replaces a tool that works (this image's Node.js and npm come
from another package source; Debian's npm conflicts with its nodejs)."""

from __future__ import annotations

import shutil
import subprocess

from tests.conftest import REPO

SYSTEM_DEPS = str(REPO / "tools" / "system-deps")
SHIPPED_TOOLS = {"node": "nodejs", "npm": "npm"}  # tool -> the Debian package providing it


def plan(*flags: str, path: str | None = None) -> list[str]:
    env = None if path is None else {"PATH": path}
    done = subprocess.run(
        ["/bin/bash", SYSTEM_DEPS, "--plan", *flags],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout.split()


def test_a_fresh_machine_of_this_image_keeps_its_tools_and_apt_accepts_the_rest() -> None:
    fresh = plan("--fresh")
    assert {"nginx", "libnginx-mod-http-lua", "lua-cjson", "rabbitmq-server"} <= set(fresh)
    for tool, package in SHIPPED_TOOLS.items():
        if shutil.which(tool):
            assert package not in fresh, f"{tool} works here; {package} must not replace it"
    # apt's own resolver, on this machine, accepts exactly that set
    simulate = ["apt-get", "install", "--simulate", "-q", "--no-install-recommends", *fresh]
    done = subprocess.run(simulate, capture_output=True, text=True, check=False)
    if "Unable to locate package" in done.stdout + done.stderr:  # no package lists yet
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, check=True)
        done = subprocess.run(simulate, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_missing_tool_gets_its_debian_package() -> None:
    assert set(SHIPPED_TOOLS.values()) <= set(plan(path="/nonexistent"))


def test_unknown_options_are_refused() -> None:
    done = subprocess.run(
        ["/bin/bash", SYSTEM_DEPS, "--plna"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert "unknown option --plna" in done.stderr
