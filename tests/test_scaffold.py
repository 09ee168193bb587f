"""`funcatron-wf new`: the folder it makes passes its own unit test as it
is, and `dev` serves it as it is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx

from tests.dev_process import FUNCATRON, DevProcess, running


def new(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FUNCATRON, "new", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_a_new_func_passes_its_own_test_and_is_served(tmp_path: Path) -> None:
    done = new("shop-front", "--dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "shop-front"
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "openapi.yaml", "shop_front_ops.py", "test_shop_front_ops.py",
    ]  # fmt: skip
    tested = subprocess.run(
        [sys.executable, "-m", "pytest", str(folder), "-q", "-p", "no:cacheprovider"],
        capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert tested.returncode == 0, tested.stdout
    assert "2 passed" in tested.stdout
    served_as_scaffolded(folder, tmp_path / "dev.log")


def served_as_scaffolded(folder: Path, log: Path) -> None:
    with running(DevProcess([folder], log)) as dev:
        serves_the_scaffold(dev.url, folder.name)


def serves_the_scaffold(url: str, name: str) -> None:
    """A new folder, served: its GET, its POST, its schema and its HTTPError."""
    host = {"host": f"{name}.local"}
    greeting = httpx.get(f"{url}/hello/Ada", headers=host, timeout=30)
    assert greeting.json() == {"greeting": "Hello, Ada"}
    item = httpx.post(f"{url}/items", headers=host, json={"name": "pen"}, timeout=30)
    assert item.status_code == 201, item.text
    assert item.json() == {"id": item.headers["x-request-id"][:8], "quantity": 1, "name": "pen"}
    refused = httpx.post(f"{url}/items", headers=host, json={"quantity": 0}, timeout=30)
    assert refused.status_code == 400  # the spec's schema, before any code runs
    unnamed = httpx.post(f"{url}/items", headers=host, json={"name": " "}, timeout=30)
    assert unnamed.status_code == 422  # the Func's own HTTPError


def test_a_new_javascript_func_passes_its_own_test_and_is_served(tmp_path: Path) -> None:
    done = new("price-list", "--lang", "js", "--dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "price-list"
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "openapi.yaml", "package.json", "price_list_ops.js", "price_list_ops.test.js",
    ]  # fmt: skip
    for step in (["npm", "install", "--offline", "--no-audit", "--no-fund"], ["npm", "test"]):
        ran = subprocess.run(
            step, capture_output=True, text=True, timeout=120, check=False, cwd=folder
        )
        assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "# pass 2" in ran.stdout
    served_as_scaffolded(folder, tmp_path / "dev.log")


def test_new_refuses_a_folder_that_is_not_empty_and_a_bad_name(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    done = new("taken", "--dir", str(tmp_path))
    assert done.returncode == 1
    assert f"{tmp_path / 'taken'} exists and is not empty" in done.stderr
    done = new("Bad_Name", "--dir", str(tmp_path))
    assert done.returncode == 1
    assert "'Bad_Name' is not a Func name" in done.stderr
