"""Registered specs in the bundle store, content-addressed: the Registry
holds a reference (``specs/<SHA-256>.json``), the Trons and Runners read the
spec by it once and keep it, so the Registry's state stays small however
many Funcs it holds (DESIGN.md, "Registry")."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

from funcatron_wf.engine.contracts import SPEC_REF_PATTERN, RegisteredFunc
from funcatron_wf.engine.errors import FuncatronError


class SpecNotFound(FuncatronError):
    """A registered spec is not in this process's bundle store."""


class SpecStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._cache: dict[str, dict[str, Any]] = {}

    def put(self, openapi: dict[str, Any]) -> str:
        raw = json.dumps(openapi, sort_keys=True, separators=(",", ":")).encode()
        ref = f"specs/{hashlib.sha256(raw).hexdigest()}.json"
        path = self.root / ref
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".partial")
            partial.write_bytes(raw)
            partial.replace(path)
        return ref

    def get(self, ref: str) -> dict[str, Any]:
        if not re.fullmatch(SPEC_REF_PATTERN, ref):
            raise ValueError(f"not a spec reference: {ref!r}")
        found = self._cache.get(ref)
        if found is None:
            try:
                found = self._cache[ref] = json.loads((self.root / ref).read_bytes())
            except FileNotFoundError as err:
                raise SpecNotFound(
                    f"spec {ref} is not in the bundle store {self.root} "
                    "(FUNCATRON_BUNDLE_STORE must be the store the deploy used)"
                ) from err
        return found


def registered_spec(func: RegisteredFunc, specs: SpecStore | None) -> dict[str, Any]:
    """A registered version's spec: inline, or read from the store."""
    if func.spec_ref is None:
        return func.openapi
    if specs is None:
        raise SpecNotFound(
            f"Func {func.name} {func.sha[:12]} keeps its spec in a bundle store; "
            "give this process --bundle-store (FUNCATRON_BUNDLE_STORE)"
        )
    return specs.get(func.spec_ref)
