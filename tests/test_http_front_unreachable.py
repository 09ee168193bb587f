"""The real nginx front alone, pointed at a Temporal HTTP API that is not
there: every request gets a 503 problem document with Retry-After (nothing started,
so it is safe to retry), and nothing hangs."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from funcatron_wf.deploy.processes import port_accepts, wait_until
from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.settings import Settings
from funcatron_wf.sources.http_front import nginx_front
from tests.conftest import free_port


@pytest.fixture
def front_without_temporal() -> Iterator[str]:
    runtime_dir = Path(tempfile.mkdtemp(prefix="funcatron-test-front-"))
    runtime_dir.chmod(0o755)  # nginx workers run unprivileged
    BlobStore(runtime_dir / "blobs").prepare()
    settings = Settings(
        port=free_port(),
        temporal="127.0.0.1:1",
        temporal_http=f"127.0.0.1:{free_port()}",  # nothing listens there
        blob_dir=runtime_dir / "blobs",
    )
    process = nginx_front(settings, runtime_dir).start()
    try:
        wait_until(
            lambda: port_accepts("127.0.0.1", settings.port), process=process, what="listening"
        )
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        process.stop()
        shutil.rmtree(runtime_dir, ignore_errors=True)


@pytest.mark.parametrize("path", ["/v1/greet/Ada", "/_funcatron/requests/" + "a" * 32])
def test_503_when_temporal_cannot_be_reached(front_without_temporal: str, path: str) -> None:
    response = httpx.get(front_without_temporal + path, headers={"host": "hello.local"}, timeout=30)
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    document = response.json()
    assert document["detail"].startswith("the workflow engine cannot be reached")
    assert document["request_id"] == response.headers["x-request-id"]
