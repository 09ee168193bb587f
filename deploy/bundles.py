"""Func bundles: a Func folder and every dependency it needs, in one archive
whose SHA-256 is its identity (DESIGN.md, "Func bundle").

An archive (``.tar.gz``) holds:

- ``manifest.json``: format, name, runtime, version, sha, and each file's
  SHA-256;
- ``func/``: the folder as written (spec, code, chain files);
- ``vendor/``: the folder's ``requirements.txt`` installed from wheels at
  bundle time (a Runner puts it first on ``sys.path`` and never reaches a
  package index);
- ``func/node_modules/``: a JavaScript Func's ``package.json`` dependencies
  (not its devDependencies), installed with npm at bundle time, where Node
  finds them.

The SHA is computed over the manifest's content (name, runtime, version and
the sorted file digests), never over archive metadata, so the same inputs
give the same SHA whatever the file times, order or machine; the archive
itself is written with fixed times, owners and order too.

Reading a bundle trusts nothing: the archive is unpacked with tarfile's
``data`` filter (no path outside the root, no absolute or outside links, no
device files), within ``max_size``; then every file is checked against the
manifest and the SHA against the manifest's content.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from funcatron_wf.engine.errors import BundleError
from funcatron_wf.workers.func_folder import FuncFolder, iter_folder_files

if not hasattr(
    tarfile, "data_filter"
):  # PEP 706's filters: Debian's 3.11.2 (the images') lacks them
    from backports import tarfile  # type: ignore[no-redef, import-untyped]

MANIFEST = "manifest.json"
FORMAT = 1
RUNTIMES = ("python", "javascript", "jvm")  # the language hosts a Runner has
FUNC_DIR = "func"
VENDOR_DIR = "vendor"
DEFAULT_MAX_BUNDLE_SIZE = 512 * 1024 * 1024  # bytes, packed and unpacked alike

Say = Callable[[str], None]


@dataclass(frozen=True)
class Manifest:
    name: str
    runtime: str
    version: str
    files: dict[str, str]  # path in the bundle -> SHA-256

    def _content(self) -> dict[str, Any]:
        """What the SHA is taken over: everything in the manifest but the SHA."""
        return {"format": FORMAT, "name": self.name, "runtime": self.runtime,
                "version": self.version, "files": dict(sorted(self.files.items()))}  # fmt: skip

    @property
    def sha(self) -> str:
        return hashlib.sha256(json.dumps(self._content(), sort_keys=True).encode()).hexdigest()

    def to_json(self) -> bytes:
        document = {**self._content(), "sha": self.sha}
        return (json.dumps(document, indent=1, sort_keys=True) + "\n").encode()

    @classmethod
    def parse(cls, raw: bytes, source: str) -> Manifest:
        try:
            document: Any = json.loads(raw)
            if document.get("format") != FORMAT:
                raise BundleError(
                    f"{source}: manifest format {document.get('format')!r} is not {FORMAT}"
                )
            manifest = cls(
                name=str(document["name"]),
                runtime=str(document["runtime"]),
                version=str(document["version"]),
                files={str(path): str(digest) for path, digest in document["files"].items()},
            )
            claimed = document["sha"]
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise BundleError(f"{source}: {MANIFEST} is not a bundle manifest ({err})") from err
        if manifest.runtime not in RUNTIMES:
            raise BundleError(
                f"{source}: runtime {manifest.runtime!r} is unknown; this platform runs "
                + ", ".join(RUNTIMES)
            )
        if claimed != manifest.sha:
            raise BundleError(f"{source}: the manifest's sha does not match its own content")
        return manifest


@dataclass(frozen=True)
class Bundle:
    """A bundle unpacked and verified in ``root``."""

    root: Path
    manifest: Manifest

    @property
    def sha(self) -> str:
        return self.manifest.sha

    @property
    def func_dir(self) -> Path:
        return self.root / FUNC_DIR

    @property
    def vendor_dir(self) -> Path:
        return self.root / VENDOR_DIR


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vendor_requirements(
    requirements: Path, target: Path, *, wheels: Path | None = None, say: Say = print
) -> None:
    """pip-install the requirements into ``target`` from wheels only (no
    builds at bundle time, so the result is the same on every machine)."""
    argv = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--only-binary=:all:", "--target", str(target), "-r", str(requirements)]  # fmt: skip
    if wheels is not None:
        argv += ["--no-index", "--find-links", str(wheels)]
    say(f"installing {requirements.name} into the bundle ...")
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BundleError(
            f"{requirements}: pip could not install it from wheels:\n{done.stderr.strip()}"
        )
    # pip leaves caches of its own; nothing machine-specific may enter the bundle
    for cache in target.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)


def install_node_dependencies(folder: Path, target: Path, *, say: Say = print) -> Path | None:
    """npm-install ``package.json``'s dependencies (devDependencies left out,
    no install scripts run) into ``target/node_modules``; None when it has none."""
    try:
        package = json.loads((folder / "package.json").read_text())
    except (OSError, ValueError) as err:
        raise BundleError(f"{folder / 'package.json'}: not a JSON package file: {err}") from err
    if not isinstance(package, dict) or not package.get("dependencies"):
        return None
    # a copy of the folder: npm writes nothing into the user's, and a file:
    # dependency inside the folder is found where package.json says
    for relative, path in iter_folder_files(folder):
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target / relative)
    # devDependencies (the unit tests' own) are not installed, nor looked for
    package.pop("devDependencies", None)
    (target / "package.json").write_text(json.dumps(package, indent=2))
    locked = (target / "package-lock.json").is_file() or (target / "npm-shrinkwrap.json").is_file()
    npm = shutil.which("npm")
    if npm is None:
        raise BundleError(f"{folder}: its package.json has dependencies, and no `npm` is on PATH")
    argv = [npm, "ci" if locked else "install", "--omit=dev", "--ignore-scripts", "--no-audit",
            "--no-fund", "--install-links", "--no-package-lock"]  # fmt: skip
    say(f"installing {folder.name}'s package.json dependencies into the bundle ...")
    done = subprocess.run(argv, cwd=target, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BundleError(
            f"{folder / 'package.json'}: npm could not install it:\n{done.stderr.strip()}"
        )
    return target / "node_modules"


def _node_module_files(node_modules: Path) -> list[tuple[str, Path]]:
    """(relative path, path) of every installed file, through the links npm
    makes for file: dependencies (the bundle holds copies); no .bin links,
    no npm bookkeeping."""
    found = []
    inside = node_modules.parent.resolve()  # the folder's copy: a link may not leave it
    for root, directories, names in os.walk(node_modules, followlinks=True):
        directories[:] = sorted(
            d for d in directories
            if d != ".bin" and (Path(root) / d).resolve().is_relative_to(inside)
        )  # fmt: skip
        for name in sorted(names):
            path = Path(root) / name
            if (
                name != ".package-lock.json"
                and path.is_file()
                and path.resolve().is_relative_to(inside)
            ):
                found.append((path.relative_to(node_modules).as_posix(), path))
    return found


def _tar_info(name: str, size: int, executable: bool) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o755 if executable else 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_bundle(
    folder: Path, output: Path, *, wheels: Path | None = None, say: Say = print
) -> Manifest:
    """Check the folder (spec, chains, code), vendor its requirements, and
    write the archive to ``output``; returns its manifest (``.sha``)."""
    func = FuncFolder.load(folder)
    version = str((func.spec.document.get("info") or {}).get("version", ""))
    files: dict[str, Path] = {
        f"{FUNC_DIR}/{relative}": path for relative, path in iter_folder_files(func.path)
    }
    with tempfile.TemporaryDirectory(prefix="funcatron-bundle-") as scratch:
        requirements = func.path / "requirements.txt"
        if requirements.is_file():
            vendor = Path(scratch) / VENDOR_DIR
            vendor_requirements(requirements, vendor, wheels=wheels, say=say)
            files.update(
                (f"{VENDOR_DIR}/{path.relative_to(vendor).as_posix()}", path)
                for path in vendor.rglob("*")
                if path.is_file()
            )
        if func.language == "javascript":
            installed = install_node_dependencies(func.path, Path(scratch) / "node", say=say)
            if installed is not None:
                files.update(
                    (f"{FUNC_DIR}/node_modules/{relative}", path)
                    for relative, path in _node_module_files(installed)
                )
        manifest = Manifest(
            name=func.name,
            runtime=func.language,
            version=version,
            files={name: _digest(path) for name, path in files.items()},
        )
        say(f"packing {len(files)} files ...")
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".partial")
        with (
            open(partial, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            manifest_bytes = manifest.to_json()
            tar.addfile(_tar_info(MANIFEST, len(manifest_bytes), False), io.BytesIO(manifest_bytes))
            for name in sorted(files):
                path = files[name]
                with open(path, "rb") as content:
                    info = _tar_info(name, path.stat().st_size, os.access(path, os.X_OK))
                    tar.addfile(info, content)
        partial.replace(output)
    return manifest


def unpack_bundle(archive: Path, destination: Path, *, max_size: int = DEFAULT_MAX_BUNDLE_SIZE,
                  expected_sha: str | None = None) -> Bundle:  # fmt: skip
    """Unpack and verify ``archive`` into ``destination`` (which must not
    exist: it appears only once the bundle is verified), or raise
    BundleError naming the archive and what is wrong with it."""
    source = str(archive)
    size = archive.stat().st_size
    if size > max_size:
        raise BundleError(
            f"{source}: {size} bytes is over the bundle limit of {max_size} (FUNCATRON_MAX_BUNDLE_SIZE)"
        )
    destination.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=destination.parent))
    try:
        try:
            with tarfile.open(archive, mode="r:*") as tar:
                unpacked = 0
                for member in tar:
                    if member.name.startswith("/"):
                        raise BundleError(f"{source}: refused: {member.name} is an absolute path")
                    unpacked += member.size
                    if unpacked > max_size:
                        raise BundleError(
                            f"{source}: unpacks to more than {max_size} bytes (FUNCATRON_MAX_BUNDLE_SIZE)"
                        )
                    tar.extract(member, scratch, filter="data")
        except tarfile.FilterError as err:
            raise BundleError(f"{source}: refused: {err}") from err
        except (tarfile.TarError, OSError, EOFError) as err:
            raise BundleError(f"{source}: not a readable bundle archive ({err})") from err
        manifest_path = scratch / MANIFEST
        if not manifest_path.is_file():
            raise BundleError(f"{source}: no {MANIFEST}; build bundles with `funcatron-wf bundle`")
        manifest = Manifest.parse(manifest_path.read_bytes(), source)
        _check_files(scratch, manifest, source)
        if expected_sha is not None and manifest.sha != expected_sha:
            raise BundleError(f"{source}: its content has SHA {manifest.sha}, not {expected_sha}")
        if destination.exists():  # another process unpacked it meanwhile
            existing = Manifest.parse((destination / MANIFEST).read_bytes(), str(destination))
            if existing.sha != manifest.sha:
                raise BundleError(f"{destination} holds bundle {existing.sha}, not {manifest.sha}")
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            scratch.chmod(0o755)  # mkdtemp's 0700: Runners may run as another user
            scratch.rename(destination)
        return Bundle(destination, manifest)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _check_files(root: Path, manifest: Manifest, source: str) -> None:
    found = {
        path.relative_to(root).as_posix(): path
        for path in root.rglob("*")
        if path.is_symlink() or not path.is_dir()
    }
    found.pop(MANIFEST)
    if set(found) != set(manifest.files):
        extra = sorted(set(found) - set(manifest.files))
        missing = sorted(set(manifest.files) - set(found))
        raise BundleError(
            f"{source}: its files do not match its manifest"
            + (f"; not in the manifest: {', '.join(extra[:5])}" if extra else "")
            + (f"; missing: {', '.join(missing[:5])}" if missing else "")
        )
    for name, path in found.items():
        if path.is_symlink() or not path.is_file():
            raise BundleError(f"{source}: {name} is not a regular file")
        if _digest(path) != manifest.files[name]:
            raise BundleError(f"{source}: {name} does not match its SHA-256 in the manifest")
    if not (root / FUNC_DIR).is_dir():
        raise BundleError(f"{source}: no {FUNC_DIR}/ folder")
