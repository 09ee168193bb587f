"""The container images (`funcatron-wf images build`), made with the docker
SDK against the local Docker engine, from no image registry; the package
indexes are read on the host only (debootstrap from a Debian mirror, `pip
wheel`), and the `docker build` steps run with no network at all:

- the base: Debian (debootstrap, minbase) with Python, nginx and its Lua
  module, and Node.js, turned into an image with `docker import`; or any
  image given as ``BASE_IMAGE`` that has the same;
- ``funcatron-wf``: the project installed from a wheelhouse built on the
  host, and the Node tools from the checkout's node_modules
  (deploy/images/platform.Dockerfile);
- ``funcatron-wf-front``: the same with nginx as its entrypoint
  (deploy/images/front.Dockerfile).

Each is tagged with the project's version and the digest of its inputs, so
an unchanged build is found and kept (a debootstrap takes a minute or two).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as _installed_version
from pathlib import Path
from typing import Any

from funcatron_wf.engine.errors import ServiceStartError

DOCKERFILES = Path(__file__).resolve().parent / "images"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = (
    "ca-certificates",
    "python3",
    "python3-venv",
    "nginx",
    "libnginx-mod-http-lua",
    "lua-cjson",
    "nodejs",
)
BASE_REPOSITORY = "funcatron-base"
PLATFORM_REPOSITORY = "funcatron-wf"
FRONT_REPOSITORY = "funcatron-wf-front"
__version__ = _installed_version("funcatron-wf")
IMAGE_PYTHON = (3, 11)  # Debian 12's python3
# wheels with the same bytes from the same sources: the digest tag finds them again
REPRODUCIBLE = {"SOURCE_DATE_EPOCH": "315532800"}

Say = Callable[[str], None]


@dataclass(frozen=True)
class Images:
    base: str
    platform: str
    front: str


def docker_client() -> Any:
    """The Docker engine DOCKER_HOST names (or the default socket)."""
    import docker
    from docker.errors import DockerException

    try:
        client = docker.from_env()
        client.ping()
    except DockerException as err:
        raise ServiceStartError(
            f"no Docker engine answers at {os.environ.get('DOCKER_HOST', 'the default socket')} "
            f"({err}); start dockerd, or point DOCKER_HOST at one"
        ) from err
    return client


def _digest(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _exists(client: Any, tag: str) -> bool:
    from docker.errors import ImageNotFound

    try:
        client.images.get(tag)
    except ImageNotFound:
        return False
    return True


def checkout_root() -> Path:
    """The checkout the images are built from (its pyproject.toml and node_modules)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file() or not (root / "node_modules").is_dir():
        raise ServiceStartError(
            f"images are built from a checkout with its tools installed (`make deps`); "
            f"{root} has no pyproject.toml or node_modules"
        )
    return root


def build_base(client: Any, *, mirror: str = DEBIAN_MIRROR, say: Say = print) -> str:
    """The Debian base image, made with debootstrap unless one with the same
    inputs exists; its tag."""
    tag = f"{BASE_REPOSITORY}:{_digest(DEBIAN_SUITE, mirror, BASE_PACKAGES)[:12]}"
    if _exists(client, tag):
        say(f"base image {tag} (kept)")
        return tag
    if shutil.which("debootstrap") is None:
        raise ServiceStartError(
            "debootstrap is missing (apt-get install debootstrap), or give --base-image"
        )
    with tempfile.TemporaryDirectory(prefix="funcatron-base-") as scratch:
        rootfs = Path(scratch) / "rootfs"
        say(f"debootstrap {DEBIAN_SUITE} with {', '.join(BASE_PACKAGES)} (a minute or two)...")
        made = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
             DEBIAN_SUITE, str(rootfs), mirror],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if made.returncode != 0:
            tail = "\n".join((made.stdout + made.stderr).splitlines()[-10:])
            raise ServiceStartError(f"debootstrap failed:\n{tail}")
        archive = Path(scratch) / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
        repository, _, version = tag.partition(":")
        client.api.import_image_from_file(str(archive), repository=repository, tag=version)
    say(f"base image {tag}")
    return tag


# what a wheel of the checkout must not see: setuptools would pack a stale build/lib
_NOT_SOURCES = shutil.ignore_patterns(
    "build", "dist", ".venv", "node_modules", ".git", "*.egg-info", "__pycache__", ".*_cache"
)


def _wheelhouse(root: Path, into: Path, say: Say) -> None:
    """Wheels of the project (from a clean copy of its sources) and of every
    dependency, for the image's Python: Debian 12's 3.11, which must be the
    one running this (a compiled wheel is made for the Python that builds it)."""
    if sys.version_info[:2] != IMAGE_PYTHON:
        raise ServiceStartError(
            f"the images run Python {'.'.join(map(str, IMAGE_PYTHON))} (Debian 12's); build them "
            f"from a checkout whose venv has that Python, not {sys.version.split()[0]}"
        )
    say("building the wheelhouse (the project and its dependencies)...")
    with tempfile.TemporaryDirectory(prefix="funcatron-sources-") as scratch:
        sources = Path(scratch) / "funcatron-wf"
        shutil.copytree(root, sources, ignore=_NOT_SOURCES)
        built = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(into), str(sources)],
            capture_output=True, text=True, check=False, env={**os.environ, **REPRODUCIBLE},
        )  # fmt: skip
    if built.returncode != 0:
        raise ServiceStartError(f"pip wheel failed:\n{built.stderr[-2000:]}")


def _files_digest(folder: Path) -> list[tuple[str, str]]:
    return [
        (str(path.relative_to(folder)), hashlib.sha256(path.read_bytes()).hexdigest())
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    ]


def _build(client: Any, context: Path, dockerfile: str, tag: str, base: str, say: Say) -> None:
    """docker build with no network: everything it needs is in ``context``."""
    from docker.errors import APIError, BuildError

    say(f"building {tag}...")
    try:
        client.images.build(
            path=str(context), dockerfile=dockerfile, tag=tag, buildargs={"BASE_IMAGE": base},
            network_mode="none", rm=True, forcerm=True, pull=False,
        )  # fmt: skip
    except (BuildError, APIError) as err:
        log = "".join(str(line.get("stream", "")) for line in getattr(err, "build_log", []))
        raise ServiceStartError(f"building {tag} failed: {err}\n{log[-2000:]}") from err


def _front_tag(platform: str) -> str:
    """The front's image is the platform's plus its Dockerfile: its tag follows."""
    digest = _digest(platform, (DOCKERFILES / "front.Dockerfile").read_text())
    return f"{FRONT_REPOSITORY}:{__version__}-{digest[:12]}"


def build_images(
    client: Any, *, base_image: str | None = None, mirror: str = DEBIAN_MIRROR, say: Say = print
) -> Images:
    """The base (unless given), the platform image and the front's; each
    kept when an image with the same inputs exists."""
    root = checkout_root()
    base = base_image or build_base(client, mirror=mirror, say=say)
    with tempfile.TemporaryDirectory(prefix="funcatron-images-") as scratch:
        context = Path(scratch)
        _wheelhouse(root, context / "wheels", say)
        shutil.copytree(root / "node_modules", context / "node_modules", symlinks=True)
        for dockerfile in DOCKERFILES.glob("*.Dockerfile"):
            shutil.copy(dockerfile, context / dockerfile.name)
        platform_digest = _digest(
            client.images.get(base).id,  # the base's content: a tag may move
            (DOCKERFILES / "platform.Dockerfile").read_text(),
            _files_digest(context / "wheels"),
            (root / "package-lock.json").read_text(),
        )
        platform = f"{PLATFORM_REPOSITORY}:{__version__}-{platform_digest[:12]}"
        if _exists(client, platform):
            say(f"{platform} (kept)")
        else:
            _build(client, context, "platform.Dockerfile", platform, base, say)
        front = _front_tag(platform)
        if _exists(client, front):
            say(f"{front} (kept)")
        else:
            _build(client, context, "front.Dockerfile", front, platform, say)
    return Images(base=base, platform=platform, front=front)


def latest_images(client: Any) -> Images | None:
    """This version's newest platform image and its front, if built."""
    prefix = f"{PLATFORM_REPOSITORY}:{__version__}-"
    built = [
        (image.attrs.get("Created", ""), tag)
        for image in client.images.list(name=PLATFORM_REPOSITORY)
        for tag in image.tags
        if tag.startswith(prefix)
    ]
    if not built:
        return None
    platform = max(built)[1]
    front = _front_tag(platform)
    if not _exists(client, front):
        return None
    return Images(base="", platform=platform, front=front)
