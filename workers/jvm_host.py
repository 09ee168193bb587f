"""The JVM language host: a Java, Scala or Clojure Func folder served by
`java funcatron.Host` (workers/jvm/src), one JVM per Func version, over
the host protocol (workers/host_process.py, docs/host-protocol.md).

A JVM Func folder holds its code as JARs (in the folder or ``lib/``: an
uber JAR, or the Func's JAR beside its dependencies) or, for Clojure, as
sources under ``src/``. Beside them the host puts what it needs itself
(its own JAR, Jackson) and the language runtimes Debian installs (Scala's
library, Clojure), so a Func's JAR need not carry them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

from funcatron_wf.engine.contracts import Route
from funcatron_wf.engine.errors import ConfigError
from funcatron_wf.workers.host_process import HostProcess, check_folder, code_operations

JVM_DIR = Path(__file__).parent / "jvm"
HOST_SOURCES = JVM_DIR / "src"
HOST_JAR = JVM_DIR / "funcatron-host.jar"
SHARED_JARS = Path("/usr/share/java")
JACKSON = ("jackson-databind.jar", "jackson-core.jar", "jackson-annotations.jar")
# what Debian's scala and clojure packages install: found when present
RUNTIMES = (
    Path("/usr/share/scala/lib/scala-library.jar"),
    SHARED_JARS / "clojure.jar",
    SHARED_JARS / "spec.alpha.jar",
    SHARED_JARS / "core.specs.alpha.jar",
)


def is_jvm_folder(folder: Path) -> bool:
    """JARs in the folder or its lib/, or Clojure sources in its src/, and
    no Python module beside them."""
    code = (
        any(folder.glob("*.jar"))
        or any(folder.glob("lib/*.jar"))
        or any((folder / "src").rglob("*.clj"))
    )
    return code and not any(folder.glob("*.py"))


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ConfigError(
            f"a JVM Func needs `{name}` (Debian: apt-get install openjdk-17-jdk-headless)"
        )
    return found


def host_jar() -> Path:
    """The host's JAR: as shipped, or (re)built with javac from
    workers/jvm/src when its sources changed since (a checkout)."""
    sources = sorted(HOST_SOURCES.rglob("*.java"))
    digest = hashlib.sha256(b"".join(source.read_bytes() for source in sources)).hexdigest()
    stamp = HOST_JAR.with_suffix(".jar.sources")
    current = HOST_JAR.is_file() and stamp.is_file() and stamp.read_text() == digest
    if current or (HOST_JAR.is_file() and shutil.which("javac") is None):
        return HOST_JAR
    if not sources:
        raise ConfigError(f"{HOST_JAR} is missing and there are no sources to build it from")
    with tempfile.TemporaryDirectory(prefix="funcatron-jvm-") as classes:
        built = subprocess.run(
            [_tool("javac"), "--release", "17", "-d", classes, "-cp", _classpath(jackson_only=True),
             *map(str, sources)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if built.returncode != 0:
            raise ConfigError(f"javac could not build the JVM host:\n{built.stderr.strip()}")
        # a name of its own: two Runners building at once each write theirs
        handle, name = tempfile.mkstemp(prefix=HOST_JAR.name, suffix=".partial", dir=JVM_DIR)
        os.close(handle)
        partial = Path(name)
        packed = subprocess.run(
            [_tool("jar"), "--create", "--file", str(partial), "-C", classes, "."],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if packed.returncode != 0:
            raise ConfigError(f"jar could not pack the JVM host:\n{packed.stderr.strip()}")
        partial.replace(HOST_JAR)
        stamp_partial = stamp.with_name(f"{partial.name}.sources")
        stamp_partial.write_text(digest)
        stamp_partial.replace(stamp)
    return HOST_JAR


def _classpath(*, jackson_only: bool = False) -> str:
    jackson = [SHARED_JARS / name for name in JACKSON]
    missing = [str(jar) for jar in jackson if not jar.is_file()]
    if missing:
        raise ConfigError(
            f"the JVM host reads JSON with Jackson: {', '.join(missing)} missing "
            "(Debian: apt-get install libjackson2-databind-java)"
        )
    if jackson_only:
        return ":".join(map(str, jackson))
    runtimes = [jar for jar in RUNTIMES if jar.is_file()]
    return ":".join(map(str, [host_jar(), *jackson, *runtimes]))


def jvm_command(folder: Path, routes: Iterable[Route]) -> list[str]:
    operations = json.dumps(code_operations(routes))
    # a quick start and a small footprint: one JVM per Func version, many per
    # machine; out of memory, it ends (its calls are retried) rather than limp
    return [
        _tool("java"), "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
        "-XX:+ExitOnOutOfMemoryError",
        "-cp", _classpath(), "funcatron.Host", str(folder), operations,
    ]  # fmt: skip


def jvm_host(folder: Path, routes: Iterable[Route], *, broken_ok: bool = False) -> HostProcess:
    routes = list(routes)
    return HostProcess(
        "JVM", folder, jvm_command(folder, routes), operation_ids=code_operations(routes),
        broken_ok=broken_ok,
    )  # fmt: skip


def check_jvm_folder(folder: Path, routes: Iterable[Route]) -> None:
    """Load the folder's operations in a JVM host, then stop it (host_process.check_folder)."""
    check_folder("JVM", folder, jvm_command(folder, routes))
