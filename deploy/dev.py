"""`funcatron-wf dev`: the whole platform for one or more Func folders on this
machine: the embedded Temporal server (unless --temporal), a Tron worker, a
Runner worker and the nginx front, and with --queue a queue source per queue
(and a throw-away RabbitMQ unless FUNCATRON_AMQP_URL names one), each a child
process stopped by pid.

Everything that can be checked before starting anything is checked first
(specs, operationIds, ports), so a mistake costs one clear line, not a
half-started stack.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from funcatron_wf.deploy.processes import require_free_port
from funcatron_wf.deploy.rabbitmq import check_rabbitmq_installed
from funcatron_wf.deploy.stack import LocalStack, Say
from funcatron_wf.engine.contracts import ChainPlan, ChainStep, FuncSettings
from funcatron_wf.engine.registry_client import register_func
from funcatron_wf.engine.settings import Settings
from funcatron_wf.engine.spec_rewriting import SpecRewrite, parse_rewrites
from funcatron_wf.sources.http_front import check_nginx_installed
from funcatron_wf.workers.func_folder import FuncFolder, link_chains


def check_func_folders(
    folders: list[str | Path], rewrites: list[SpecRewrite] | None = None
) -> list[FuncFolder]:
    """Load every folder, check their chains against each other and resolve
    every operationId, or raise the first problem."""
    loaded = link_chains([FuncFolder.load(folder, rewrites) for folder in folders])
    for folder in loaded:
        folder.resolve_operations()
    return loaded


def describe_chain(plan: ChainPlan) -> str:
    """'quote -> [stock | risk] -> audit (detached) -> accept (when ...)'."""

    def step(each: ChainStep) -> str:
        text = f"{each.name}={each.call}"
        if not each.reply:
            text += " (detached)"
        if each.when:
            text += f" (when {each.when})"
        return text

    return " -> ".join(
        "[" + " | ".join(map(step, stage.steps)) + "]" if stage.parallel else step(stage.steps[0])
        for stage in plan.stages
    )


def check_ports(settings: Settings) -> None:
    require_free_port(settings.listen, settings.port, what="HTTP front", flag="--port")
    if settings.embedded_temporal:
        for port, what, flag in (
            (settings.temporal_port, "Temporal gRPC", "--temporal-port"),
            (settings.temporal_ui_port, "Temporal UI", "--temporal-ui-port"),
            (settings.temporal_http_port, "Temporal HTTP API", "--temporal-http-port"),
        ):
            require_free_port("127.0.0.1", port, what=what, flag=flag)


class DevStack(LocalStack):
    """The platform for Func folders: their versions registered and live at
    once, one Runner process serving them all."""

    def __init__(
        self,
        settings: Settings,
        folders: list[FuncFolder],
        *,
        queues: list[str] | None = None,
        say: Say = print,
    ) -> None:
        super().__init__(settings, Path(tempfile.mkdtemp(prefix="funcatron-dev-")), say=say)
        self.folders = folders
        self.queues = queues or []

    async def start(self) -> None:
        client = await self.start_temporal()
        self.start_tron()
        for folder in self.folders:
            func_settings = FuncSettings(
                dev_mode=True,
                validate_responses=True,
                heartbeat_timeout=self.settings.heartbeat_timeout,
            )
            await register_func(client, folder.registration(func_settings))
        self.start_worker("runner", *(str(folder.path) for folder in self.folders))
        self.start_front()
        self.start_queue_sources(self.queues)

    def describe(self) -> str:
        lines = self.url_lines(self.queues)
        for folder in self.folders:
            lines.append(f"Func {folder.name} ({folder.sha[:12]}) from {folder.path}:")
            lines += [
                f"  {r.method:7} {r.host or '*'}{r.base_path}{r.path_template} -> "
                + (f"chain {r.chain}" if r.chain else r.operation_id)
                for r in folder.routes
            ]
            lines += [f"  chain {plan.name}: {describe_chain(plan)}" for plan in folder.chains]
        return "\n".join(lines)

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)


async def run_dev(
    settings: Settings,
    folder_paths: list[str | Path],
    *,
    queues: list[str] | None = None,
    say: Say = print,
) -> None:
    folders = check_func_folders(folder_paths, parse_rewrites(settings.spec_rewrite))
    check_nginx_installed()
    if queues and settings.amqp_url is None:
        check_rabbitmq_installed()
    settings.temporal_http_address  # noqa: B018 - raises ConfigError early if it cannot be known
    check_ports(settings)
    stack = DevStack(settings, folders, queues=queues, say=say)
    try:
        await stack.start()
        say(stack.describe())
        say("ready; Ctrl-C stops everything")
        await stack.wait()
    finally:
        stack.stop()
