"""`pip install .` (a real wheel, not the editable checkout) gives every part
of the funcatron_wf namespace, the Lua front and the `funcatron-wf` command."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from tests.conftest import REPO


def test_wheel_installs_the_whole_namespace(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path / "dist"), str(REPO)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("funcatron_wf-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "funcatron_wf/__init__.py",
        "funcatron_wf/cli.py",
        "funcatron_wf/workers/runner.py",
        "funcatron_wf/sources/http-lua/funcatron.lua",
        "funcatron_wf/sources/http-lua/nginx.conf.template",
        "funcatron_wf/deploy/dev.py",
    ):
        assert expected in names
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert (
        "funcatron-wf = funcatron_wf.cli:run" in zipfile.ZipFile(wheel).read(entry_points).decode()
    )

    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    # The installed copy, not the checkout, must be what imports.
    probe = (
        "import funcatron_wf, funcatron_wf.cli as cli, funcatron_wf.sources.http_front as f;"
        "print(funcatron_wf.__file__); print(f.LUA_DIR.joinpath('funcatron.lua').is_file())"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": f"{target}:{sysconfig.get_path('purelib')}", "PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    module_file, lua_found = done.stdout.split()
    assert module_file.startswith(str(target))
    assert lua_found == "True"
