import pytest

from funcatron_wf.engine.errors import ConfigError
from funcatron_wf.engine.spec_rewriting import apply_rewrites, parse_rewrites
from funcatron_wf.workers.func_folder import FuncFolder
from tests.conftest import EXAMPLES

SWAGGER = {"swagger": "2.0", "host": "hello.local", "basePath": "/v1", "info": {"title": "Hello"}}
OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "Pets"},
    "servers": [{"url": "http://pets.local:8080/api"}, {"url": "/api"}],
}

# One folder, three stages: each rewrite set is what that stage's environment holds.
STAGES = {
    "test": ("host s/\\.local$/.test.internal/", "pets.test.internal", "/api"),
    "staging": (
        "host s/^(\\w+)\\.local$/\\1.staging.example.com/\nbasePath s#^#/stage#",
        "pets.staging.example.com",
        "/stage/api",
    ),
}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_openapi3_servers_per_stage(stage: str) -> None:
    rules, host, base = STAGES[stage]
    rewritten = apply_rewrites(OPENAPI, parse_rewrites(rules), source="spec")
    assert rewritten["servers"][0]["url"] == f"http://{host}:8080{base}"
    assert rewritten["servers"][1]["url"] == base  # no host: only the path changes
    assert OPENAPI["servers"][0]["url"] == "http://pets.local:8080/api"  # original untouched


def test_swagger2_host_and_base_path() -> None:
    rewritten = apply_rewrites(
        SWAGGER, parse_rewrites("host s/hello/hi/\nbasePath s|/v1|/v2|"), source="spec"
    )
    assert (rewritten["host"], rewritten["basePath"]) == ("hi.local", "/v2")


def test_any_field_by_json_pointer_with_flags_and_whole_match() -> None:
    rewritten = apply_rewrites(SWAGGER, parse_rewrites("/info/title s/L/[&]/gi"), source="spec")
    assert rewritten["info"]["title"] == "He[l][l]o"


def test_escaped_delimiter_and_literal_ampersand() -> None:
    rewritten = apply_rewrites(
        SWAGGER, parse_rewrites("/info/title s/Hello/A\\/B \\& C/"), source="s"
    )
    assert rewritten["info"]["title"] == "A/B & C"


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("host x/a/b/", "must look like s/PATTERN/REPLACEMENT/"),
        ("host s/a/b", "expected s/PATTERN/REPLACEMENT/FLAGS"),
        ("title s/a/b/", "the target must be host, basePath or a JSON pointer"),
        ("host s/(/b/", "bad pattern"),
        ("host s/a/b/q", "unknown flag(s) q"),
    ],
)
def test_bad_rules_name_the_setting_and_the_rule(rule: str, message: str) -> None:
    with pytest.raises(ConfigError, match="FUNCATRON_SPEC_REWRITE") as caught:
        parse_rewrites(rule)
    assert message in str(caught.value) and repr(rule) in str(caught.value)


def test_pointer_to_a_missing_or_non_string_field() -> None:
    with pytest.raises(ConfigError, match="has no field /info/nope"):
        apply_rewrites(SWAGGER, parse_rewrites("/info/nope s/a/b/"), source="spec")
    with pytest.raises(ConfigError, match="/info in spec is not a string"):
        apply_rewrites(SWAGGER, parse_rewrites("/info s/a/b/"), source="spec")


def test_rewrites_reach_the_routes_of_a_func_folder() -> None:
    folder = FuncFolder.load(
        EXAMPLES / "hello", parse_rewrites(STAGES["staging"][0].replace("pets", "hello"))
    )
    assert {(r.host, r.base_path) for r in folder.routes} == {
        ("hello.staging.example.com", "/stage/v1")
    }
    assert folder.sha == FuncFolder.load(EXAMPLES / "hello").sha  # same code, same identity
