"""The bundle store: bundles by SHA, behind a small interface
(``BundleStore``); a directory by default (``FUNCATRON_BUNDLE_STORE``: any
filesystem the platform's machines share). It also holds the registered
specs (engine/spec_store.py), so the Registry carries references only.

Layout: ``bundles/<sha>.tar.gz``, ``specs/<sha>.json``, and
``unpacked/<sha>/`` where a bundle is unpacked once, verified, for Runners
on this machine.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Protocol

from funcatron_wf.deploy.bundles import (
    DEFAULT_MAX_BUNDLE_SIZE,
    MANIFEST,
    Bundle,
    Manifest,
    unpack_bundle,
)
from funcatron_wf.engine.errors import BundleError
from funcatron_wf.engine.spec_store import SpecStore


class BundleStore(Protocol):
    specs: SpecStore

    def put(self, archive: Path) -> Manifest:
        """Verify an archive and store it under its SHA; its manifest."""
        ...

    def fetch(self, sha: str) -> Bundle:
        """The bundle, unpacked and verified on this machine (once)."""
        ...

    def has(self, sha: str) -> bool: ...


class DirectoryBundleStore:
    def __init__(self, root: Path, *, max_size: int = DEFAULT_MAX_BUNDLE_SIZE) -> None:
        self.root = root
        self.max_size = max_size
        self.specs = SpecStore(root)

    def _archive(self, sha: str) -> Path:
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise BundleError(f"{sha!r} is not a bundle SHA (64 lowercase hex digits)")
        return self.root / "bundles" / f"{sha}.tar.gz"

    def _unpacked(self, sha: str) -> Path:
        return self.root / "unpacked" / sha

    def has(self, sha: str) -> bool:
        return self._archive(sha).is_file()

    def put(self, archive: Path) -> Manifest:
        (self.root / "unpacked").mkdir(parents=True, exist_ok=True)
        # a scratch of its own: deploys may store bundles at once
        scratch = Path(tempfile.mkdtemp(prefix=".checking-", dir=self.root / "unpacked")) / "b"
        bundle = unpack_bundle(archive, scratch, max_size=self.max_size)
        try:
            stored = self._archive(bundle.sha)
            if not stored.exists():
                stored.parent.mkdir(parents=True, exist_ok=True)
                partial = stored.with_name(stored.name + ".partial")
                shutil.copyfile(archive, partial)
                partial.replace(stored)
            if not self._unpacked(bundle.sha).exists():
                scratch.rename(self._unpacked(bundle.sha))
        finally:
            shutil.rmtree(scratch.parent, ignore_errors=True)
        return bundle.manifest

    def fetch(self, sha: str) -> Bundle:
        archive = self._archive(sha)
        if not archive.is_file():
            raise BundleError(f"bundle {sha} is not in the bundle store {self.root}")
        unpacked = self._unpacked(sha)
        if unpacked.is_dir():
            return Bundle(
                unpacked, Manifest.parse((unpacked / MANIFEST).read_bytes(), str(archive))
            )
        return unpack_bundle(archive, unpacked, max_size=self.max_size, expected_sha=sha)
