"""Containers: `images build` makes the platform's images (deploy/images.py)."""

from __future__ import annotations

import click
from rich.console import Console

from funcatron_wf.cli_common import exit_without_teardown
from funcatron_wf.engine.errors import FuncatronError

console = Console(stderr=True)


@click.group()
def images() -> None:
    """The platform's container images (Docker)."""


@images.command("build")
@click.option(
    "--base-image",
    metavar="IMAGE",
    help="Build on this image (Debian 12 or alike with python3, python3-venv, nginx, "
    "libnginx-mod-http-lua, lua-cjson and nodejs) instead of making one with debootstrap.",
)
@click.option(
    "--debian-mirror",
    default="http://deb.debian.org/debian",
    show_default=True,
    help="Where debootstrap fetches the base image's packages.",
)
def images_build(base_image: str | None, debian_mirror: str) -> None:
    """Build the base image (unless --base-image), the platform's image and the
    front's, on the Docker engine DOCKER_HOST names; print their tags. An
    image whose inputs did not change is kept, not built again. Runs from a
    checkout whose tools are installed (`make deps`)."""
    from funcatron_wf.deploy.images import build_images, docker_client

    try:
        client = docker_client()
        built = build_images(
            client,
            base_image=base_image,
            mirror=debian_mirror,
            say=lambda line: console.print(line),
        )
    except FuncatronError as err:
        raise click.ClickException(str(err)) from err
    click.echo(built.platform)
    click.echo(built.front)
    exit_without_teardown(0)


COMMANDS = [images]
