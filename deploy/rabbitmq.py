"""A throw-away RabbitMQ broker for `dev` and the tests, from Debian's
`rabbitmq-server` package: free loopback ports, a data directory of its own,
and its own Erlang port mapper (epmd), so everything it starts is stopped by
pid with it, and it never meets a broker the machine already runs.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from funcatron_wf.deploy.processes import ManagedProcess, any_free_port, port_accepts, wait_until
from funcatron_wf.engine.errors import ServiceStartError

# Debian's wrapper (/usr/sbin/rabbitmq-server) switches to the rabbitmq user
# and its fixed directories; the script behind it takes our environment.
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"
EPMD = "/usr/bin/epmd"


@dataclass
class LocalBroker:
    epmd: ManagedProcess
    server: ManagedProcess
    port: int

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def processes(self) -> list[ManagedProcess]:
        """In the order they start (stop them in reverse)."""
        return [self.epmd, self.server]

    def stop(self) -> None:
        self.server.stop(timeout=30)
        self.epmd.stop()


def check_rabbitmq_installed() -> None:
    missing = [path for path in (RABBITMQ_SERVER, EPMD) if not Path(path).exists()]
    if missing:
        raise ServiceStartError(
            f"a local RabbitMQ needs Debian's rabbitmq-server ({', '.join(missing)} missing); "
            "install it with: apt-get install rabbitmq-server (make demo does), "
            "or point FUNCATRON_AMQP_URL at a broker"
        )


def local_broker(data_dir: Path, *, port: int | None = None) -> LocalBroker:
    """The broker's processes, not started (``start_local_broker`` starts them)."""
    check_rabbitmq_installed()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or any_free_port()
    epmd_port = any_free_port()
    (data_dir / "enabled_plugins").write_text("[].\n")  # no plugins: a quicker start
    environment = {
        **os.environ,
        "HOME": str(data_dir),  # its Erlang cookie
        "ERL_EPMD_ADDRESS": "127.0.0.1",
        "ERL_EPMD_PORT": str(epmd_port),
        "RABBITMQ_NODENAME": f"funcatron-{port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(any_free_port()),
        # Erlang's distribution port listens on every interface unless told
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "RABBITMQ_MNESIA_BASE": str(data_dir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(data_dir / "log"),
        "RABBITMQ_LOGS": "-",
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(data_dir / "enabled_plugins"),
        "RABBITMQ_CONFIG_FILE": str(data_dir / "rabbitmq"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(data_dir / "advanced.config"),
        "RABBITMQ_PID_FILE": str(data_dir / "rabbitmq.pid"),
    }
    epmd = ManagedProcess(
        "epmd",
        [EPMD, "-port", str(epmd_port), "-address", "127.0.0.1"],
        log_path=data_dir / "epmd.log",
        env=environment,
    )
    server = ManagedProcess(
        "rabbitmq", [RABBITMQ_SERVER], log_path=data_dir / "rabbitmq.log", env=environment
    )
    return LocalBroker(epmd=epmd, server=server, port=port)


def wait_for_broker(broker: LocalBroker, timeout: float = 90.0) -> None:
    """RabbitMQ opens its AMQP port once it has booted."""
    wait_until(
        lambda: port_accepts("127.0.0.1", broker.port),
        process=broker.server,
        what="its AMQP port open",
        timeout=timeout,
    )


def start_local_broker(data_dir: Path, *, port: int | None = None) -> LocalBroker:
    broker = local_broker(data_dir, port=port)
    broker.epmd.start()
    try:
        wait_until(
            lambda: port_accepts("127.0.0.1", int(broker.epmd.argv[2])),
            process=broker.epmd,
            what="listening",
        )
        broker.server.start()
        wait_for_broker(broker)
    except BaseException:
        broker.stop()
        raise
    return broker


def remove_data(data_dir: Path) -> None:
    shutil.rmtree(data_dir, ignore_errors=True)
