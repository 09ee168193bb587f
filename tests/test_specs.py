import re
from pathlib import Path

import pytest

from funcatron_wf.engine.contracts import Route
from funcatron_wf.engine.errors import SpecError
from funcatron_wf.engine.specs import find_spec_file, load_spec
from tests.conftest import EXAMPLES


def test_swagger2_routes_use_host_and_base_path() -> None:
    spec = load_spec(EXAMPLES / "hello" / "swagger.yaml")
    assert spec.is_swagger2
    assert Route("hello.local", "/v1", "GET", "/greet/{name}", "greetings.greet") in spec.routes()


def test_openapi3_routes_use_servers_url() -> None:
    spec = load_spec(EXAMPLES / "petstore" / "openapi.yaml")
    assert {(r.host, r.base_path, r.method, r.path_template) for r in spec.routes()} == {
        ("pets.local", "/api", "GET", "/pets"),
        ("pets.local", "/api", "POST", "/pets"),
        ("pets.local", "/api", "GET", "/pets/{petId}"),
    }


def test_openapi31_relative_server_with_variables(tmp_path: Path) -> None:
    path = tmp_path / "openapi.yaml"
    path.write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\n"
        "servers: [{url: '/{stage}/api', variables: {stage: {default: prod}}}]\n"
        "paths:\n  /x:\n    get:\n      operationId: m.f\n      responses: {'200': {description: ok}}\n"
    )
    assert load_spec(path).routes() == [Route("", "/prod/api", "GET", "/x", "m.f")]


def test_invalid_spec_names_the_file_and_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "openapi.yaml"
    path.write_text(
        "openapi: 3.0.3\ninfo: {title: t}\npaths:\n  /x:\n    get: {operationId: m.f}\n"
    )
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert re.search("[\"']version[\"'] is a required property", message)
    assert re.search("[\"']responses[\"'] is a required property", message)


def test_unparseable_yaml_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "openapi.yaml"
    path.write_text("openapi: [unclosed\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(path)


def test_document_without_version_field(tmp_path: Path) -> None:
    path = tmp_path / "openapi.json"
    path.write_text('{"info": {}}')
    with pytest.raises(SpecError, match="which OpenAPI version"):
        load_spec(path)


def test_missing_operation_id_names_method_and_path(tmp_path: Path) -> None:
    path = tmp_path / "openapi.yaml"
    path.write_text(
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n"
        "paths:\n  /x:\n    post:\n      responses: {'200': {description: ok}}\n"
    )
    with pytest.raises(SpecError, match=r"POST /x has no operationId"):
        load_spec(path).routes()


def test_missing_spec_file_names_the_folder(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no OpenAPI file found") as caught:
        find_spec_file(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_a_queue_feeds_one_operation(tmp_path: Path) -> None:
    path = tmp_path / "openapi.yaml"
    path.write_text(
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n"
        "  /a:\n    post:\n      operationId: m.a\n      x-funcatron-queue: jobs\n"
        "      responses: {'200': {description: ok}}\n"
        "  /b:\n    post:\n      operationId: m.b\n      x-funcatron-queue: jobs\n"
        "      responses: {'200': {description: ok}}\n"
    )
    with pytest.raises(SpecError, match="'jobs' is on both m.a and m.b"):
        load_spec(path).routes()


BOMB_SPEC = """x0: &x0 ["lol"]
{levels}
openapi: 3.0.3
info: {{title: t, version: '1'}}
paths: {{}}
"""


def test_a_yaml_bomb_in_a_spec_is_refused_at_once(tmp_path: Path) -> None:
    """Nine aliases to nine aliases, nine levels deep: 9^9 values once walked
    (it ran this machine out of memory before); refused in milliseconds."""
    levels = "\n".join(f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 9)}]" for i in range(1, 10))
    path = tmp_path / "openapi.yaml"
    path.write_text(BOMB_SPEC.format(levels=levels))
    with pytest.raises(SpecError, match="anchors and aliases expand it to more than 1,000,000"):
        load_spec(path)


def test_a_spec_sharing_a_few_values_by_alias_loads(tmp_path: Path) -> None:
    path = tmp_path / "openapi.yaml"
    path.write_text(
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n"
        "  /a: {get: {operationId: m.a, responses: &ok {'200': {description: ok}}}}\n"
        "  /b: {get: {operationId: m.b, responses: *ok}}\n"
    )
    assert [route.operation_id for route in load_spec(path).routes()] == ["m.a", "m.b"]


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "openapi.yaml"
    path.write_text("openapi: 3.0.3\ninfo: &i {title: t, version: '1', self: *i}\npaths: {}\n")
    with pytest.raises(SpecError):
        load_spec(path)
