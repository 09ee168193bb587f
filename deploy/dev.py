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

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from funcatron_wf.deploy.processes import require_free_port
from funcatron_wf.deploy.rabbitmq import check_rabbitmq_installed
from funcatron_wf.deploy.reloading import Reloader, func_environment
from funcatron_wf.deploy.request_log import print_requests
from funcatron_wf.deploy.stack import LocalStack, Say
from funcatron_wf.engine.contracts import ChainPlan, ChainStep, FuncSettings
from funcatron_wf.engine.registry_client import register_func
from funcatron_wf.engine.settings import Settings
from funcatron_wf.engine.spec_rewriting import SpecRewrite, parse_rewrites
from funcatron_wf.sources.http_front import check_nginx_installed
from funcatron_wf.workers.func_folder import FuncFolder, link_chains


def check_func_folders(
    folders: list[str | Path],
    rewrites: list[SpecRewrite] | None = None,
    *,
    module: str | None = None,
) -> list[FuncFolder]:
    """Load every folder, check their chains against each other and resolve
    every operationId, or raise the problems (all of a folder's at once)."""
    loaded = link_chains([FuncFolder.load(folder, rewrites, module=module) for folder in folders])
    for folder in loaded:
        folder.resolve_operations()
    return loaded


def _target(operation_id: str, functions: dict[str, Callable[..., Any] | None]) -> str:
    """'greetings.greet', or 'listPets (pets_api.list_pets)' when the name maps
    (a JavaScript Func's: its operationId names its module and export)."""
    function = functions[operation_id]
    if function is None:
        return operation_id
    where = f"{function.__module__}.{function.__name__}"
    return operation_id if where == operation_id else f"{operation_id} ({where})"


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


def check_ports(settings: Settings, *, front: bool = True) -> None:
    if front:
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
        module: str | None = None,
        front: bool = True,
        say: Say = print,
    ) -> None:
        super().__init__(settings, Path(tempfile.mkdtemp(prefix="funcatron-dev-")), say=say)
        self.front = front
        self.folders = folders
        self.queues = queues or []
        self.rewrites = parse_rewrites(settings.spec_rewrite)
        self.module = module

    async def start(self) -> Reloader:
        """Start everything; the reloader that keeps the folders live on save."""
        client = await self.start_temporal()
        self.start_tron()
        func_settings = FuncSettings(
            dev_mode=True,
            validate_responses=True,
            heartbeat_timeout=self.settings.heartbeat_timeout,
        )
        environments = {
            folder.name: func_environment(folder, self.runtime_dir, self.say)
            for folder in self.folders
        }
        for folder in self.folders:
            await register_func(client, folder.registration(func_settings))
        paths = [f"--path={env}" for env in environments.values() if env is not None]
        self.start_worker("runner", *paths, *(str(folder.path) for folder in self.folders))
        if self.front:
            self.start_front()
        self.start_queue_sources(self.queues)
        reloader = Reloader(
            self, client, self.folders, func_settings,
            rewrites=self.rewrites, module=self.module,
        )  # fmt: skip
        reloader.start_standby()
        return reloader

    def describe(self) -> str:
        lines = self.url_lines(self.queues)
        if not self.front:
            lines[0] = "HTTP front:  none (--no-front); `funcatron-wf invoke` runs requests"
        for folder in self.folders:
            lines.append(f"Func {folder.name} ({folder.sha[:12]}) from {folder.path}:")
            functions = folder.resolve_operations()
            lines += [
                f"  {r.method:7} {r.host or '*'}{r.base_path}{r.path_template} -> "
                + (f"chain {r.chain}" if r.chain else _target(r.operation_id, functions))
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
    module: str | None = None,
    front: bool = True,
    say: Say = print,
) -> None:
    folders = check_func_folders(folder_paths, parse_rewrites(settings.spec_rewrite), module=module)
    if front:
        check_nginx_installed()
    if queues and settings.amqp_url is None:
        check_rabbitmq_installed()
    settings.temporal_http_address  # noqa: B018 - raises ConfigError early if it cannot be known
    check_ports(settings, front=front)
    stack = DevStack(settings, folders, queues=queues, module=module, front=front, say=say)
    tasks: list[asyncio.Task[None]] = []
    try:
        reloader = await stack.start()
        say(stack.describe())
        say("ready; Ctrl-C stops everything (a save reloads its Func)")
        tasks.append(asyncio.create_task(reloader.watch()))
        if front:
            printing = print_requests(
                stack.runtime_dir / "access.log",
                say,
                ui_url=stack.settings.temporal_ui_url,
                namespace=stack.settings.namespace,
            )
            tasks.append(asyncio.create_task(printing))
        await stack.wait()
    finally:
        for task in tasks:
            task.cancel()
        stack.stop()
