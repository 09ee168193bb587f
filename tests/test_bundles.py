"""Bundles: reproducible (same inputs, same SHA, whatever the file times or
order), vendored from wheels, and every bad archive refused with one line
naming the file and what is wrong (deploy/bundles.py, deploy/bundle_store.py)."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from funcatron_wf.deploy.bundle_store import DirectoryBundleStore
from funcatron_wf.deploy.bundles import MANIFEST, Manifest, build_bundle, unpack_bundle
from funcatron_wf.engine.errors import BundleError, SpecError
from tests.conftest import EXAMPLES
from tests.wheels import make_wheel


def quiet(_: str) -> None:
    pass


def test_the_same_folder_gives_the_same_sha_whatever_the_file_times(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "hello", tmp_path / "b" / "hello"
    shutil.copytree(EXAMPLES / "hello", first)
    # the other copy: files written in the other order, with other times
    second.mkdir(parents=True)
    for path in sorted((EXAMPLES / "hello").iterdir(), reverse=True):
        (second / path.name).write_bytes(path.read_bytes())
        os.utime(second / path.name, (1_000_000, 1_000_000))
    one = build_bundle(first, tmp_path / "one.tar.gz", say=quiet)
    two = build_bundle(second, tmp_path / "two.tar.gz", say=quiet)
    assert one.sha == two.sha
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    (second / "greetings.py").write_text("# changed\n" + (second / "greetings.py").read_text())
    assert build_bundle(second, tmp_path / "three.tar.gz", say=quiet).sha != one.sha


def test_requirements_are_vendored_from_wheels(tmp_path: Path) -> None:
    make_wheel(tmp_path / "wheels", "pinned", "1.0")
    folder = shutil.copytree(EXAMPLES / "hello", tmp_path / "hello")
    (folder / "requirements.txt").write_text("pinned==1.0\n")
    manifest = build_bundle(folder, tmp_path / "b.tar.gz", wheels=tmp_path / "wheels", say=quiet)
    assert "vendor/pinned/__init__.py" in manifest.files
    again = build_bundle(folder, tmp_path / "c.tar.gz", wheels=tmp_path / "wheels", say=quiet)
    assert again.sha == manifest.sha  # pip's own files are the same every time
    bundle = unpack_bundle(tmp_path / "b.tar.gz", tmp_path / "unpacked", expected_sha=manifest.sha)
    assert (bundle.vendor_dir / "pinned" / "__init__.py").read_text() == 'VERSION = "1.0"\n'
    (folder / "requirements.txt").write_text("pinned==3.0\n")
    with pytest.raises(BundleError, match="requirements.txt: pip could not install it from wheels"):
        build_bundle(folder, tmp_path / "d.tar.gz", wheels=tmp_path / "wheels", say=quiet)


def test_a_folder_with_an_invalid_spec_is_not_bundled(tmp_path: Path) -> None:
    folder = shutil.copytree(EXAMPLES / "hello", tmp_path / "hello")
    (folder / "swagger.yaml").write_text("swagger: '2.0'\npaths: 7\n")
    with pytest.raises(SpecError, match="swagger.yaml: invalid OpenAPI document"):
        build_bundle(folder, tmp_path / "b.tar.gz", say=quiet)


def archive_with(tmp_path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    path = tmp_path / "bad.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


BAD_ARCHIVES = [
    ([(member("../escape.py"), b"x")], "refused: .*escape.py.* outside"),
    ([(member("/etc/evil"), b"x")], "refused: "),
    ([(member("func/link", tarfile.SYMTYPE, "/etc/passwd"), b"")], "refused: .*link"),
    ([(member("func/up", tarfile.SYMTYPE, "../../x"), b"")], "refused: .*up"),
    ([(member("func/dev", tarfile.CHRTYPE), b"")], "refused: .*dev"),
    ([(member("func/openapi.yaml"), b"x")], "no manifest.json"),
    ([(member(MANIFEST), b"{not json")], "manifest.json is not a bundle manifest"),
]


@pytest.mark.parametrize(("members", "message"), BAD_ARCHIVES)
def test_a_bad_archive_is_refused_naming_it(tmp_path: Path, members: list, message: str) -> None:
    archive = archive_with(tmp_path, *members)
    with pytest.raises(BundleError, match=f"^{archive}: {message}"):
        unpack_bundle(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing half-unpacked
    assert not (tmp_path / "escape.py").exists()


def good_archive(tmp_path: Path) -> tuple[Path, Manifest]:
    archive = tmp_path / "good.tar.gz"
    return archive, build_bundle(EXAMPLES / "hello", archive, say=quiet)


def rewritten(archive: Path, target: Path, change) -> Path:
    """The archive with its members passed through ``change(name, data) -> data``."""
    with tarfile.open(archive) as source, tarfile.open(target, "w:gz") as out:
        for info in source:
            data = change(info.name, source.extractfile(info).read())
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return target


def test_a_file_that_does_not_match_its_digest_is_refused(tmp_path: Path) -> None:
    archive, _ = good_archive(tmp_path)
    tampered = rewritten(
        archive, tmp_path / "t.tar.gz",
        lambda name, data: data + b"# evil\n" if name == "func/greetings.py" else data,
    )  # fmt: skip
    with pytest.raises(BundleError, match="func/greetings.py does not match its SHA-256"):
        unpack_bundle(tampered, tmp_path / "out")


def test_a_manifest_whose_sha_was_edited_is_refused(tmp_path: Path) -> None:
    archive, manifest = good_archive(tmp_path)

    def edit(name: str, data: bytes) -> bytes:
        if name != MANIFEST:
            return data
        document = json.loads(data)
        document["sha"] = "0" * 64
        return json.dumps(document).encode()

    with pytest.raises(BundleError, match="the manifest's sha does not match its own content"):
        unpack_bundle(rewritten(archive, tmp_path / "t.tar.gz", edit), tmp_path / "out")
    with pytest.raises(BundleError, match=f"has SHA {manifest.sha}, not {'1' * 64}"):
        unpack_bundle(archive, tmp_path / "out", expected_sha="1" * 64)


def test_an_unknown_runtime_is_refused(tmp_path: Path) -> None:
    archive, _ = good_archive(tmp_path)

    def edit(name: str, data: bytes) -> bytes:
        if name != MANIFEST:
            return data
        document = json.loads(data)
        manifest = Manifest(document["name"], "cobol", document["version"], document["files"])
        return manifest.to_json()

    with pytest.raises(BundleError, match="runtime 'cobol' is unknown; this platform runs python"):
        unpack_bundle(rewritten(archive, tmp_path / "t.tar.gz", edit), tmp_path / "out")


def test_an_archive_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    archive, _ = good_archive(tmp_path)
    with pytest.raises(
        BundleError, match="over the bundle limit of 100 .FUNCATRON_MAX_BUNDLE_SIZE"
    ):
        unpack_bundle(archive, tmp_path / "out", max_size=100)
    bomb = archive_with(tmp_path, (member("func/zeros"), b"\0" * 100_000))
    with pytest.raises(BundleError, match="unpacks to more than 50000 bytes"):
        unpack_bundle(bomb, tmp_path / "out", max_size=50_000)


def test_the_store_keeps_bundles_by_sha_and_refuses_what_it_does_not_hold(tmp_path: Path) -> None:
    archive, manifest = good_archive(tmp_path)
    store = DirectoryBundleStore(tmp_path / "store")
    assert store.put(archive).sha == manifest.sha
    assert store.has(manifest.sha)
    assert store.fetch(manifest.sha).manifest == manifest
    with pytest.raises(BundleError, match=f"bundle {'2' * 64} is not in the bundle store"):
        store.fetch("2" * 64)
    with pytest.raises(BundleError, match="'../x' is not a bundle SHA"):
        store.fetch("../x")
