"""The blob store: bodies too large for Temporal payloads (limit 2 MiB) live
here and travel as ``{"encoding": "ref", "data": "<ref>"}`` (the reference
layout is part of the contracts, engine/contracts.py).

It is a directory: the HTTP front moves large request bodies in (nginx has
already spooled them to a file on the same filesystem, so it is a rename),
Runners write large replies, and the front streams them out. In a cluster it
is any filesystem all three share.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

from funcatron_wf.engine.contracts import (
    BLOB_REF_PATTERN,
    REQUEST_BODIES,
    RESPONSE_BODIES,
    Body,
    request_body_ref,
    response_body_ref,
)

# nginx spools large request bodies here before Lua renames them into REQUEST_BODIES
INCOMING = "incoming"
BODY_FOLDERS = (REQUEST_BODIES, RESPONSE_BODIES, INCOMING)


class MissingBlobStore(ValueError):
    """A body in the blob store reached a process that has none configured."""


def body_bytes(body: Body, blobs: BlobStore | None) -> bytes:
    """A body's bytes, read from the blob store when it travelled as a ref."""
    if body.encoding != "ref":
        return body.raw()
    if blobs is None:
        raise MissingBlobStore(
            f"the body {body.data} is in the blob store, and this process has none; "
            "give it the front's --blob-dir (FUNCATRON_BLOB_DIR)"
        )
    return blobs.read(body.data)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def folders(self) -> list[Path]:
        return [self.root, *(self.root / name for name in BODY_FOLDERS)]

    def prepare(self) -> None:
        """Create the layout. World-writable and sticky, as /tmp: nginx workers
        (an unprivileged user) move request bodies in."""
        for folder in self.folders():
            folder.mkdir(parents=True, exist_ok=True)
            if folder.stat().st_mode & 0o7777 != 0o1777:  # only its owner may chmod
                folder.chmod(0o1777)

    def path(self, ref: str) -> Path:
        if not re.fullmatch(BLOB_REF_PATTERN, ref):
            raise ValueError(f"not a blob reference: {ref!r}")
        return self.root / ref

    def read(self, ref: str) -> bytes:
        return self.path(ref).read_bytes()

    def write_request(self, request_id: str, data: bytes) -> Body:
        """A request body over the inline limit, stored once (a redelivered
        message's first body stays)."""
        ref = request_body_ref(request_id)
        path = self.path(ref)
        if path.exists():
            # in use again: pruned a retention after this (by whoever may)
            with contextlib.suppress(PermissionError):
                os.utime(path)
        else:
            _write_whole(path, data)
        return Body(encoding="ref", data=ref)

    def write_response(self, request_id: str, data: bytes) -> Body:
        ref = response_body_ref(request_id)
        _write_whole(self.path(ref), data)
        return Body(encoding="ref", data=ref)

    def prune(self, older_than: float) -> int:
        """Remove the bodies written more than ``older_than`` seconds ago
        (and uploads nginx spooled that long ago and never moved in: a front
        that died mid-request); how many were removed."""
        cutoff = time.time() - older_than
        removed = 0
        for folder in BODY_FOLDERS:
            with os.scandir(self.root / folder) as entries:
                for entry in entries:
                    try:
                        if entry.is_file(follow_symlinks=False) and entry.stat().st_mtime < cutoff:
                            os.unlink(entry.path)
                            removed += 1
                    except FileNotFoundError:  # another Tron was first
                        pass
                    except PermissionError:  # another user's, in the sticky folder: theirs
                        pass
        return removed


def _write_whole(path: Path, data: bytes) -> None:
    """Write a blob; one cut short (a full disk) is removed, not left half written."""
    try:
        path.write_bytes(data)
    except OSError:
        path.unlink(missing_ok=True)
        raise
