"""`funcatron-wf dev` refuses bad input at start, with one line naming what
is wrong, before it starts any service."""

from __future__ import annotations

import re
import socket
from pathlib import Path

from click.testing import CliRunner

from funcatron_wf.cli import main
from tests.conftest import EXAMPLES, ONE_OPERATION_SPEC, free_port


def run_dev(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["dev", *args, "--port", str(free_port())])
    return result.exit_code, result.output


def assert_one_error_line(output: str) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: ")
    return lines[0]


def test_spec_that_fails_validation(tmp_path: Path) -> None:
    (tmp_path / "openapi.yaml").write_text("openapi: 3.0.3\ninfo: {title: t}\npaths: {}\n")
    code, output = run_dev(str(tmp_path))
    line = assert_one_error_line(output)
    assert code == 1
    assert f"{tmp_path / 'openapi.yaml'}: invalid OpenAPI document" in line
    assert re.search("[\"']version[\"'] is a required property", line)


def test_operation_id_that_names_no_function(tmp_path: Path) -> None:
    (tmp_path / "openapi.yaml").write_text(
        ONE_OPERATION_SPEC.format(operation_id="bad_input_ops.absent")
    )
    (tmp_path / "bad_input_ops.py").write_text("def present():\n    return {}\n")
    code, output = run_dev(str(tmp_path))
    line = assert_one_error_line(output)
    assert code == 1
    assert "operationId 'bad_input_ops.absent' (GET /x)" in line
    assert "has no function 'absent'" in line


def test_missing_spec_file(tmp_path: Path) -> None:
    code, output = run_dev(str(tmp_path))
    line = assert_one_error_line(output)
    assert code == 1
    assert f"{tmp_path}: no OpenAPI file found" in line


def test_port_in_use() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(main, ["dev", str(EXAMPLES / "hello"), "--port", str(port)])
    line = assert_one_error_line(result.output)
    assert result.exit_code == 1
    assert f"port {port} (HTTP front) is already in use; choose another with --port" in line


def test_unknown_environment_setting_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("FUNCATRON_PROT", "9000")
    result = CliRunner().invoke(main, ["dev", str(EXAMPLES / "hello")])
    line = assert_one_error_line(result.output)
    assert "unknown setting FUNCATRON_PROT" in line and "FUNCATRON_PORT" in line


def test_tron_front_door_that_is_not_host_port() -> None:
    result = CliRunner().invoke(main, ["tron", "--front-door", "8080"])
    assert result.exit_code == 2
    assert "Invalid value for --front-door: '8080' is not HOST:PORT" in result.output


def test_queue_source_needs_a_broker_and_a_queue_and_a_well_formed_binding(
    monkeypatch,  # noqa: ANN001
) -> None:
    monkeypatch.delenv("FUNCATRON_AMQP_URL", raising=False)
    runner = CliRunner()
    no_broker = runner.invoke(main, ["source", "queue", "--queue", "jobs"])
    assert no_broker.exit_code == 2
    assert "give the broker: --amqp URL (or FUNCATRON_AMQP_URL)" in no_broker.output
    no_queue = runner.invoke(main, ["source", "queue", "--amqp", "amqp://127.0.0.1:1/"])
    assert "give the queue: --queue NAME" in no_queue.output
    bad_binding = runner.invoke(
        main,
        ["source", "queue", "--amqp", "amqp://127.0.0.1:1/", "--queue", "q", "--operation", "x"],
    )
    assert bad_binding.exit_code == 2
    assert "Invalid value for --operation: 'x' is not FUNC:OPERATION_ID" in bad_binding.output
