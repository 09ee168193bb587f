"""The blob store: bodies too large for Temporal payloads (limit 2 MiB) live
here and travel as ``{"encoding": "ref", "data": "<ref>"}``.

It is a directory: the HTTP front moves large request bodies in (nginx has
already spooled them to a file on the same filesystem, so it is a rename),
Runners write large replies, and the front streams them out. In a cluster it
is any filesystem all three share.
"""

from __future__ import annotations

import re
from pathlib import Path

from funcatron_wf.engine.envelopes import Body

DEFAULT_INLINE_BODY_MAX = 256 * 1024
_REF = re.compile(r"^(requests|responses)/[0-9a-f]{32}\.body$")


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def prepare(self) -> None:
        """Create the layout. World-writable and sticky, as /tmp: nginx workers
        (an unprivileged user) move request bodies in."""
        for folder in (
            self.root,
            self.root / "requests",
            self.root / "responses",
            self.root / "incoming",
        ):
            folder.mkdir(parents=True, exist_ok=True)
            folder.chmod(0o1777)

    def path(self, ref: str) -> Path:
        if not _REF.match(ref):
            raise ValueError(f"not a blob reference: {ref!r}")
        return self.root / ref

    def write_response(self, request_id: str, data: bytes) -> Body:
        ref = f"responses/{request_id}.body"
        self.path(ref).write_bytes(data)
        return Body(encoding="ref", data=ref)

    def body_bytes(self, body: Body) -> bytes:
        return self.path(body.data).read_bytes() if body.encoding == "ref" else body.raw()
