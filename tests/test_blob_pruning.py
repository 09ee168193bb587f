"""The blob store keeps bodies for FUNCATRON_BLOB_RETENTION seconds; a Tron
removes older ones (workers/tron.py keep_pruned)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from funcatron_wf.engine.blobs import INCOMING, BlobStore
from tests.conftest import NOBODY, run_as_nobody


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_bodies_past_their_retention_are_removed_and_the_rest_kept(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    blobs.prepare()
    old_request = blobs.path(blobs.write_request("a" * 32, b"old").data)
    old_reply = blobs.path(blobs.write_response("b" * 32, b"old").data)
    spooled = tmp_path / INCOMING / "0000000001"  # an upload a dead nginx left
    spooled.write_bytes(b"half")
    fresh = blobs.path(blobs.write_response("c" * 32, b"new").data)
    for path in (old_request, old_reply, spooled):
        _age(path, 120)
    _age(fresh, 30)
    assert blobs.prune(older_than=60) == 3
    assert [p.exists() for p in (old_request, old_reply, spooled, fresh)] == [
        False,
        False,
        False,
        True,
    ]
    assert blobs.prune(older_than=60) == 0


def test_a_body_another_user_owns_is_left_and_the_rest_pruned(shared_tmp: Path) -> None:
    """In the sticky folders only a file's owner removes it: a Tron of
    another user (an earlier run's root containers, say) skips it, and goes
    on with the rest."""
    blobs = BlobStore(shared_tmp / "blobs")
    blobs.prepare()
    theirs = blobs.path(blobs.write_response("a" * 32, b"root's").data)
    spooled = shared_tmp / "blobs" / INCOMING / "0000000001"
    spooled.write_bytes(b"nobody's")
    os.chown(spooled, NOBODY, NOBODY)
    for path in (theirs, spooled):
        _age(path, 120)
    done = run_as_nobody(
        "import sys; from pathlib import Path; from funcatron_wf.engine.blobs import BlobStore; "
        "print(BlobStore(Path(sys.argv[1])).prune(older_than=60))",
        str(shared_tmp / "blobs"),
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    assert theirs.exists() and not spooled.exists()
