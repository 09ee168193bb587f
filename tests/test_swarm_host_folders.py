"""What `up` prepares on the host for the platform's containers, none of
which runs as root (deploy/swarm_substrate.py): the folders they write,
given to their user; Temporal's database in a folder of its own; a port a
front without privileges can listen on. No Docker engine needed."""

from __future__ import annotations

from pathlib import Path

import pytest

from funcatron_wf.deploy import swarm_platform
from funcatron_wf.deploy.swarm_platform import SwarmPlatform
from funcatron_wf.deploy.swarm_substrate import IMAGE_USER, writable_by_services
from funcatron_wf.deploy.temporal_dev import platform_database
from funcatron_wf.engine.errors import ConfigError
from funcatron_wf.engine.settings import Settings
from tests.conftest import NOBODY, run_as_nobody


def test_root_gives_the_services_user_the_folder_and_what_it_holds(shared_tmp: Path) -> None:
    folder = shared_tmp / "temporal"
    folder.mkdir()
    left = folder / "temporal.db"  # made by an earlier run's root container
    left.write_bytes(b"db")
    writable_by_services(folder)
    assert (folder.stat().st_uid, folder.stat().st_gid) == (IMAGE_USER, IMAGE_USER)
    assert (left.stat().st_uid, left.stat().st_gid) == (IMAGE_USER, IMAGE_USER)


def test_another_user_is_told_which_folder_is_not_theirs(shared_tmp: Path) -> None:
    folder = shared_tmp / "unpacked"
    folder.mkdir()
    done = run_as_nobody(
        "import sys; from pathlib import Path; "
        "from funcatron_wf.deploy.swarm_substrate import writable_by_services; "
        "writable_by_services(Path(sys.argv[1]))",
        str(folder),
    )
    assert done.returncode != 0
    assert f"run as uid {NOBODY} and must write {folder}, owned by uid 0" in done.stderr
    assert folder.stat().st_uid == 0


def test_a_database_where_earlier_versions_kept_it_is_moved_into_its_folder(
    tmp_path: Path,
) -> None:
    (tmp_path / "temporal.db").write_bytes(b"db")
    (tmp_path / "temporal.db-wal").write_bytes(b"wal")
    database = platform_database(tmp_path)
    assert database == tmp_path / "temporal" / "temporal.db"
    assert database.read_bytes() == b"db"
    assert (database.parent / "temporal.db-wal").read_bytes() == b"wal"
    assert not list(tmp_path.glob("temporal.db*"))


@pytest.mark.parametrize("left", ["temporal.db", "temporal.db-wal"])
def test_earlier_files_beside_a_database_are_refused_and_none_is_touched(
    tmp_path: Path, left: str
) -> None:
    (tmp_path / "temporal").mkdir()
    (tmp_path / "temporal" / "temporal.db").write_bytes(b"new")
    (tmp_path / "temporal" / "temporal.db-wal").write_bytes(b"new wal")
    (tmp_path / left).write_bytes(b"old")
    with pytest.raises(ConfigError, match=f"earlier files beside the folder: {tmp_path / left}"):
        platform_database(tmp_path)
    assert (tmp_path / "temporal" / "temporal.db").read_bytes() == b"new"
    assert (tmp_path / "temporal" / "temporal.db-wal").read_bytes() == b"new wal"
    assert (tmp_path / left).read_bytes() == b"old"


def test_a_port_the_unprivileged_front_cannot_listen_on_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the host's own setting, as on most: Docker's containers lower it in theirs
    monkeypatch.setattr(swarm_platform, "lowest_port_for_users", lambda: 1024)
    with pytest.raises(ConfigError, match="--port 80: the front's container runs without root"):
        SwarmPlatform(Settings(port=80), tmp_path)
