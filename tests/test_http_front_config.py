"""The Lua front shares names and codes with the engine only through its
rendered config, never as literals of its own."""

from __future__ import annotations

import json
import re
from pathlib import Path

from funcatron_wf.engine import contracts, starting
from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.settings import Settings
from funcatron_wf.sources.http_front import FRONT_DOOR_LOCATION, LUA_DIR, lua_config, nginx_front

SHARED_LITERALS = [
    contracts.TRON_TASK_QUEUE,
    contracts.REQUEST_WORKFLOW_TYPE,
    contracts.ROUTED_REQUEST_WORKFLOW_TYPE,
    contracts.FRONT_DOOR_PATH,
    contracts.STATUS_URL_PREFIX,
    contracts.REQUEST_BODIES + "/",
    contracts.RESPONSE_BODIES + "/",
    f'"{contracts.BLOB_SUFFIX}"',  # as a Lua string: ".body" alone is also a field access
    starting.HTTP_API_ID_REUSE_POLICY,
    starting.HTTP_API_ID_CONFLICT_POLICY,
    FRONT_DOOR_LOCATION,
    f'"{contracts.IDEMPOTENCY_KEY_HEADER}"',
]


def lua_code() -> str:
    """The Lua module without its comments (which may name the contract)."""
    text = (LUA_DIR / "funcatron.lua").read_text()
    text = re.sub(r"--\[\[.*?\]\]", "", text, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", "", text)


def test_the_lua_module_writes_none_of_the_engines_literals() -> None:
    code = lua_code()
    written = [literal for literal in SHARED_LITERALS if literal in code]
    assert not written, f"render these into the config instead: {written}"
    for code_name in ("front_door_started", "front_door_accepted"):
        assert f"config.{code_name}" in code


def test_the_rendered_config_carries_them_and_nginx_accepts_it(tmp_path: Path) -> None:
    settings = Settings(blob_dir=tmp_path / "blobs", tron_http="127.0.0.1:9")
    BlobStore(tmp_path / "blobs").prepare()
    nginx_front(settings, tmp_path)  # runs `nginx -t`, which runs init_by_lua
    rendered = (tmp_path / "nginx.conf").read_text()
    found = re.search(r"decode\(\[==\[(.*?)\]==\]\)", rendered)
    assert found is not None
    assert json.loads(found.group(1)) == lua_config(settings, tmp_path / "blobs")
    assert f'location ~ "^{contracts.STATUS_URL_PREFIX}(?<status_request_id>' in rendered
