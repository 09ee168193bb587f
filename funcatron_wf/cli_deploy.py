"""The deploy commands: `bundle`, the local platform (`up`, `down`) and the
lifecycle on a running platform (`deploy`, `promote`, `rollback`, `ls`,
`undeploy`, `scale`). Each parses its options and calls deploy/."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from funcatron_wf.cli_common import (
    client_of,
    command_settings,
    exit_without_teardown,
    platform_options,
    platform_settings_of,
    queue_option,
    registry_change,
    rewrite_option,
    run_command,
    state_dir_option,
    temporal_options,
)
from funcatron_wf.deploy.bundle_store import DirectoryBundleStore
from funcatron_wf.engine.settings import Settings
from funcatron_wf.engine.spec_rewriting import parse_rewrites
from funcatron_wf.workers.log_context import configure_logging

# progress and tables on stderr; stdout keeps the answer (a SHA, JSON)
console = Console(stderr=True, log_path=False)


@click.command()
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="Archive to write (default: NAME-SHA12.tar.gz here).",
)
@click.option("--wheels", type=click.Path(path_type=Path, exists=True, file_okay=False), help="Install requirements.txt from these wheels only (no package index).")  # fmt: skip
def bundle(folder: Path, output: Path | None, wheels: Path | None) -> None:
    """Bundle a Func FOLDER: its spec, code, chains and vendored requirements
    in one reproducible archive. Prints the bundle's SHA-256."""
    from funcatron_wf.deploy.bundles import build_bundle

    if output is not None and not output.parent.is_dir():
        raise click.ClickException(f"{output.parent} is not a folder")
    scratch = (output.parent if output else Path.cwd()) / f".bundle-{os.getpid()}.tar.gz"
    try:
        with console.status(f"bundling {folder} ..."):
            manifest = run_command(
                _sync(build_bundle, folder, scratch, wheels=wheels, say=console.log)
            )
        target = output or Path(f"{manifest.name}-{manifest.sha[:12]}.tar.gz")
        scratch.replace(target)
    finally:
        scratch.unlink(missing_ok=True)
    console.print(
        f"wrote {target} ({manifest.name} {manifest.version}, runtime {manifest.runtime})"
    )
    click.echo(manifest.sha)


async def _sync(function: Any, *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


@click.command()
@platform_options
@queue_option
@state_dir_option
@click.option("--foreground", is_flag=True, help="Stay attached; Ctrl-C stops the platform.")
@click.option(
    "--substrate",
    type=click.Choice(["local", "swarm"]),
    help="local: processes on this machine (default); swarm: Docker Swarm services on the "
    "engine DOCKER_HOST names (env FUNCATRON_SUBSTRATE).",
)
@click.option(
    "--image", help="swarm: the platform's image (default: the newest `images build` made)."
)
@click.option("--front-image", help="swarm: the HTTP front's image (default: built with --image).")
@temporal_options
def up(queues: tuple[str, ...], foreground: bool, **flags: Any) -> None:
    """Run the platform: Temporal on a database in the state directory, a
    Tron, the nginx front, a Runner pool per deployed version; as processes
    here, or as Docker Swarm services (--substrate swarm). Returns once it
    is ready (`down` stops it)."""
    from funcatron_wf.deploy.platform import run_platform, start_in_background, state_dir_of

    settings = command_settings(**flags)
    state_dir = state_dir_of(settings)
    if foreground:
        configure_logging(logging.WARNING, settings.log_format)
        run_command(run_platform(settings, state_dir, queues=list(queues), say=click.echo))
        exit_without_teardown(0)
    # a swarm's services may take a while: images are large, Temporal starts first
    wait = 400.0 if settings.substrate == "swarm" else 120.0
    info = run_command(
        _sync(start_in_background, [*sys.argv[1:], "--foreground"], state_dir, timeout=wait)
    )
    click.echo("\n".join(info.lines))
    click.echo(f"ready (pid {info.pid}); state and logs in {state_dir}")


@click.command()
@state_dir_option
def down(state_dir: Path | None) -> None:
    """Stop the platform of a state directory, local or on swarm (deployments stay)."""
    from funcatron_wf.deploy.platform import state_dir_of, stop_platform

    settings = command_settings(state_dir=state_dir)
    run_command(_sync(stop_platform, state_dir_of(settings), say=click.echo))


def _store(settings: Settings) -> DirectoryBundleStore:
    if settings.bundle_store is None:
        raise click.ClickException(
            "no bundle store: set FUNCATRON_BUNDLE_STORE (the store the cluster's Runners read)"
        )
    return DirectoryBundleStore(settings.bundle_store, max_size=settings.max_bundle_size)


@click.command()
@click.argument("source", type=click.Path(path_type=Path, exists=True))
@click.option(
    "--stage", help="Apply the folder's stages/STAGE.rewrite spec rewrites, and record the stage."
)
@click.option(
    "--canary",
    type=click.FloatRange(0, 100, min_open=True, max_open=True),
    metavar="PCT",
    help="Serve this share of the requests with the new version; `promote` makes it live.",
)
@click.option(
    "--wheels",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Vendor requirements.txt from these wheels only.",
)
@click.option(
    "--substrate",
    type=click.Choice(["local", "swarm", "kubernetes", "mesos"]),
    help="Where the platform's Runner pools run (env FUNCATRON_SUBSTRATE); only --keda needs it.",
)
@click.option(
    "--keda",
    is_flag=True,
    help="kubernetes: KEDA sizes the new version's Runners from its task queue (a "
    "ScaledObject, KEDA 2.17+); the Func's replicas are the floor, "
    "FUNCATRON_KEDA_MAX_REPLICAS the ceiling.",
)
@rewrite_option
@state_dir_option
@temporal_options
def deploy(source: Path, stage: str | None, canary: float | None, wheels: Path | None, rewrites: tuple[str, ...], keda: bool, **flags: Any) -> None:  # fmt: skip
    """Deploy a Func folder (bundled on the way) or a bundle archive.

    Returns once the new version serves: its pool polls, then its routes
    switch to it (or, with --canary, it takes that share of the requests).
    """
    from funcatron_wf.deploy.lifecycle import deploy as deploy_source

    flags["spec_rewrite"] = "\n".join(rewrites) if rewrites else None
    settings = platform_settings_of(flags)
    if keda and settings.substrate != "kubernetes":
        raise click.UsageError("--keda is for --substrate kubernetes (KEDA sizes Deployments)")
    rules = run_command(_sync(parse_rewrites, settings.spec_rewrite))

    async def go() -> Any:
        client = await client_of(settings)
        record = await deploy_source(
            client, _store(settings), source, console,
            rewrites=rules, stage=stage, canary_percent=canary, wheels=wheels,
        )  # fmt: skip
        if keda:
            await _scale_with_keda(client, settings, record)
        return record

    record = run_command(go())
    what = f"canary ({canary:g}% of requests)" if canary is not None else "live"
    console.print(f"{record.name} {record.sha[:12]} is {what}")
    click.echo(record.sha)
    exit_without_teardown(0)


@click.command()
@click.argument("name")
@state_dir_option
@temporal_options
def promote(name: str, **flags: Any) -> None:
    """Make a Func's canary its live version."""
    deployment = registry_change("promote", name, flags)
    console.print(f"{name} {deployment.live[:12]} (the canary) is live")
    click.echo(deployment.live)
    exit_without_teardown(0)


async def _scale_with_keda(client: Any, settings: Settings, record: Any) -> None:
    from funcatron_wf.deploy.cluster_substrates import kubernetes_substrate
    from funcatron_wf.deploy.lifecycle import deployment_of
    from funcatron_wf.deploy.substrate import Pool
    from funcatron_wf.engine.registry_client import read_registry_state

    deployment = deployment_of(await read_registry_state(client), record.name)
    version = deployment.version(record.sha)
    replicas = deployment.pool_size(version) if version is not None else deployment.replicas
    substrate = kubernetes_substrate(settings)
    try:
        scaled = await substrate.scale_with_keda(
            Pool(record.name, record.sha, record.task_queue, replicas),
            temporal=settings.temporal_address, namespace=settings.namespace,
            max_replicas=settings.keda_max_replicas,
        )  # fmt: skip
    finally:
        await substrate.close()
    spec = scaled["spec"]
    console.print(
        f"KEDA sizes it: ScaledObject {scaled['metadata']['name']} in {substrate.namespace}, "
        f"{spec['minReplicaCount']} to {spec['maxReplicaCount']} Runners"
    )


@click.command()
@click.argument("name")
@click.option("--to", "to", metavar="SHA", help="The version (SHA or a prefix) to go back to; default: the one before the live one.")  # fmt: skip
@state_dir_option
@temporal_options
def rollback(name: str, to: str | None, **flags: Any) -> None:
    """Switch a Func back to an earlier version, once that version's pool polls."""
    from funcatron_wf.deploy.lifecycle import rollback as roll_back

    settings = platform_settings_of(flags)

    async def go() -> Any:
        return await roll_back(await client_of(settings), name, console, to=to)

    record = run_command(go())
    console.print(f"{name} {record.sha[:12]} is live again")
    click.echo(record.sha)
    exit_without_teardown(0)


@click.command()
@click.argument("name")
@state_dir_option
@temporal_options
def undeploy(name: str, **flags: Any) -> None:
    """Remove a Func: its routes stop at once, its pools drain and stop."""
    registry_change("undeploy", name, flags)
    console.print(f"{name} is undeployed")
    exit_without_teardown(0)


class LimitOrSpec(click.ParamType[Any]):
    """A number above 0, or "spec": back to the spec's x-funcatron-scale."""

    def __init__(self, kind: type[int] | type[float]) -> None:
        self.kind = kind
        self.name = f"{kind.__name__}|spec"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if value == "spec":
            return value
        try:
            number = self.kind(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number above 0 or 'spec'", param, ctx)
        if number <= 0:
            self.fail(f"{value!r} is not above 0 (to stop a Func, scale it to 0)", param, ctx)
        return number


@click.command()
@click.argument("name")
@click.argument("replicas", type=click.IntRange(min=0), required=False)
@click.option("--min", "scale_min", type=click.IntRange(min=0), help="The fewest Runners the autoscaler leaves a version (0: scale to zero).")  # fmt: skip
@click.option("--max", "scale_max", type=click.IntRange(min=1), help="The most Runners the autoscaler gives a version.")  # fmt: skip
@click.option("--auto", is_flag=True, help="Back to the bounds the spec's x-funcatron-scale gives.")
@click.option("--concurrency", type=LimitOrSpec(int), help="Calls one Runner takes at once (its Runners are replaced); 'spec': the spec's.")  # fmt: skip
@click.option("--rate-limit", type=LimitOrSpec(float), help="Calls a second for each version, over all its Runners (Temporal's task-queue limit; past it calls wait); 'spec': the spec's.")  # fmt: skip
@state_dir_option
@temporal_options
def scale(
    name: str, replicas: int | None, scale_min: int | None, scale_max: int | None, auto: bool,
    concurrency: int | str | None, rate_limit: float | str | None, **flags: Any,
) -> None:  # fmt: skip
    """Pin how many Runners each serving version of a Func gets (REPLICAS),
    or bound what the autoscaler may give it (--min, --max; the other bound
    is the spec's), or hand it back to the spec's bounds (--auto); and set
    the calls a Runner takes at once (--concurrency) and a version's calls
    a second (--rate-limit). Past those limits calls wait, never fail."""
    bounds = scale_min is not None or scale_max is not None
    limits = concurrency is not None or rate_limit is not None
    sizing = [replicas is not None, bounds, auto].count(True)
    if sizing > 1 or sizing == 0 and not limits:
        raise click.UsageError(
            "give REPLICAS, or --min and/or --max, or --auto; and/or --concurrency, --rate-limit"
        )
    if limits:
        registry_change(
            "set_limits", name, flags,
            concurrency=None if concurrency == "spec" else concurrency,
            rate_limit=None if rate_limit == "spec" else rate_limit,
            spec_limits=[
                limit for limit, given in (("concurrency", concurrency), ("rate_limit", rate_limit))
                if given == "spec"
            ],
        )  # fmt: skip
        if concurrency is not None:
            at_once = "the spec's" if concurrency == "spec" else concurrency
            console.print(f"{name}: each Runner takes {at_once} calls at once")
        if rate_limit is not None:
            rate = "the spec's rate limit" if rate_limit == "spec" else f"{rate_limit:g} calls/s"
            console.print(f"{name}: each version takes {rate}")
    if replicas is not None:
        registry_change("scale", name, flags, replicas=replicas)
        console.print(f"{name}: {replicas} Runner(s) per version, pinned")
    elif bounds or auto:
        registry_change("scale", name, flags, scale_min=scale_min, scale_max=scale_max)
        low = "the spec's min" if scale_min is None else scale_min
        high = "the spec's max" if scale_max is None else scale_max
        console.print(f"{name}: the autoscaler gives each version {low} to {high} Runners")
    exit_without_teardown(0)


@click.command("log-level")
@click.argument("name")
@click.argument(
    "level",
    type=click.Choice(
        ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "default"], case_sensitive=False
    ),
)
@state_dir_option
@temporal_options
def log_level(name: str, level: str, **flags: Any) -> None:
    """Set a Func's log level; its next request logs at it, no restart
    ("default": the Runners' own level)."""
    chosen = "" if level.lower() == "default" else level.upper()
    registry_change("set_log_level", name, flags, dev_too=True, log_level=chosen)
    console.print(f"{name} logs at {chosen or 'the Runners level'} from its next request")
    exit_without_teardown(0)


@click.command("ls")
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (the Registry's state and pool sizes)."
)
@state_dir_option
@temporal_options
def list_deployments(as_json: bool, **flags: Any) -> None:
    """List the deployed Funcs: versions, live and canary, routes, pool sizes."""
    from funcatron_wf.deploy.lifecycle import LONG_POLL, pollers
    from funcatron_wf.engine.registry_client import read_registry_state

    settings = platform_settings_of(flags)

    async def go() -> Any:
        client = await client_of(settings)
        state = await read_registry_state(client)
        sizes = {
            version.sha: await pollers(client, version.task_queue, since=time.time() - LONG_POLL)
            for deployment in state.deployments
            for version in deployment.serving()
        }
        return state, sizes

    state, sizes = run_command(go())
    if as_json:
        document = asdict(state)
        for deployment, listed in zip(state.deployments, document["deployments"], strict=True):
            for version, shown in zip(deployment.versions, listed["versions"], strict=True):
                shown["runners"] = sizes.get(version.sha, 0)  # polling now
                if version in deployment.serving():
                    shown["pool_size"] = deployment.pool_size(version)  # what it should have
                    shown["policy"] = asdict(deployment.policy(version))
        click.echo(json.dumps(document, indent=1))
        exit_without_teardown(0)
    table = Table(
        "Func", "version", "status", "runners", "scaling", "routes", "deployed", "by", "stage"
    )
    for deployment in state.deployments:
        for version in reversed(deployment.versions):
            status = (
                "live" if version.sha == deployment.live
                else f"canary {deployment.canary_percent:g}%" if version.sha == deployment.canary
                else "pending" if version.sha == deployment.pending
                else "retired"
            )  # fmt: skip
            serving = version.sha in sizes
            table.add_row(
                deployment.name, version.sha[:12], status,
                f"{sizes[version.sha]}/{deployment.pool_size(version)}" if serving else "",
                scaling_of(deployment, version) if serving else "",
                str(len(version.routes)), version.deployed_at.replace("T", " ")[:16],
                version.deployed_by, version.stage,
            )  # fmt: skip
    out = Console()
    if not out.is_terminal:
        out = Console(width=160)  # piped: do not squeeze the table into 80 columns
    out.print(table)
    if state.trons is not None:
        out.print(f"Trons: {state.trons.replicas} ({state.trons.reason})", highlight=False)
    exit_without_teardown(0)


def scaling_of(deployment: Any, version: Any) -> str:
    """The pool's bounds, and the autoscaler's last reason for its size."""
    policy = deployment.policy(version)
    decided = deployment.sizes.get(version.sha)
    bounds = f"{policy.min}..{policy.max}, {policy.concurrency} at once" + (
        f", {policy.rate_limit:g}/s" if policy.rate_limit is not None else ""
    )
    return f"{bounds}: {decided.reason}" if decided is not None else bounds


COMMANDS = [
    bundle, up, down, deploy, promote, rollback, list_deployments, undeploy, scale, log_level,
]  # fmt: skip
