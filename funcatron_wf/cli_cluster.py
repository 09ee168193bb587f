"""The commands for a platform on a cluster: `controller` (makes the
Runner pools on Kubernetes or Mesos), `autoscaler` (sizes them) and
`substrate check`."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from funcatron_wf.cli_common import (
    client_of,
    command_settings,
    exit_without_teardown,
    run_command,
    temporal_options,
)
from funcatron_wf.workers.log_context import configure_logging

SUBSTRATES = ["local", "swarm", "kubernetes", "mesos"]


def substrate_option(
    choices: list[str],
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        "--substrate",
        type=click.Choice(choices),
        help="Where the Runner pools run (env FUNCATRON_SUBSTRATE): "
        + ", ".join(choices)
        + ". Kubernetes: the kubeconfig, or the pod's service account; mesos: "
        "FUNCATRON_MARATHON_URL.",
    )


@click.command()
@substrate_option(["kubernetes", "mesos"])
@click.option(
    "--alive-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Touched after every pass that reached Temporal and the substrate "
    "(a liveness probe checks its age).",
)
@temporal_options
def controller(alive_file: Path | None, **flags: Any) -> None:
    """Size the Runner pools on a cluster: one per serving Func version,
    made to match the Registry about once a second, until SIGTERM. On
    Kubernetes it runs as the funcatron-controller Deployment
    (deploy/kubernetes); `up` runs its own on this machine or a swarm."""
    from funcatron_wf.deploy.autoscaler import autoscaler_for
    from funcatron_wf.deploy.cluster_substrates import cluster_substrate
    from funcatron_wf.deploy.controller import Controller, run_passes

    settings = command_settings(**flags)
    configure_logging(logging.INFO, settings.log_format)

    async def serve() -> None:
        substrate = cluster_substrate(settings)
        try:
            client = await client_of(settings)
            controller = Controller(client, substrate, autoscaler=autoscaler_for(client, settings))
            await run_passes(controller.reconcile, alive_file=alive_file)
        finally:
            await substrate.close()

    run_command(serve())
    exit_without_teardown(0)


@click.command()
@click.option(
    "--alive-file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Touched after every pass that reached Temporal (a liveness probe checks its age).",
)
@temporal_options
def autoscaler(alive_file: Path | None, **flags: Any) -> None:
    """Size every serving Func version's pool from its task queue's backlog
    and its calls' service time, within its x-funcatron-scale and the bounds
    `scale` set, until SIGTERM. Each size goes to the Registry with its
    reasons (`ls` shows them); the controller applies it. `up` and
    `controller` run one already unless FUNCATRON_AUTOSCALE=false: run this
    where they do not."""
    from funcatron_wf.deploy.autoscaler import Autoscaler
    from funcatron_wf.deploy.controller import run_passes

    settings = command_settings(**flags)
    configure_logging(logging.INFO, settings.log_format)

    async def serve() -> None:
        sizer = Autoscaler(await client_of(settings))
        await run_passes(sizer.tick, alive_file=alive_file)

    run_command(serve())
    exit_without_teardown(0)


@click.group()
def substrate() -> None:
    """The substrate the Runner pools run on."""


@substrate.command("check")
@substrate_option(SUBSTRATES)
def check(**flags: Any) -> None:
    """Say, for the configured substrate (FUNCATRON_SUBSTRATE or
    --substrate), what this machine can reach and what is missing; exit 1
    if anything is."""
    from funcatron_wf.deploy.substrate_check import check_substrate

    settings = command_settings(**flags)
    findings = run_command(check_substrate(settings))
    click.echo(f"substrate: {settings.substrate}")
    for finding in findings:
        click.echo(finding.line() if finding.ok else click.style(finding.line(), fg="red"))
    raise SystemExit(0 if all(finding.ok for finding in findings) else 1)


COMMANDS = [controller, autoscaler, substrate]
