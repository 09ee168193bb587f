from funcatron_wf.engine.contracts import RegisteredFunc, Route
from funcatron_wf.engine.route_table import RouteTable, request_host


def func(name: str, *routes: Route) -> RegisteredFunc:
    return RegisteredFunc(name=name, sha="0" * 64, task_queue=f"q.{name}", routes=list(routes))


def route(
    template: str, operation: str, method: str = "GET", host: str = "", base: str = ""
) -> Route:
    return Route(
        host=host, base_path=base, method=method, path_template=template, operation_id=operation
    )


TABLE = RouteTable(
    [
        func(
            "users",
            route("/users/{id}", "users.get", host="api.local", base="/v1"),
            route("/users/me", "users.me", host="api.local", base="/v1"),
            route("/users/{id}", "users.delete", method="DELETE", host="api.local", base="/v1"),
            route("/files/{name}", "users.file", host="api.local", base="/v1"),
        ),
        func("anyhost", route("/users/{id}", "any.get", base="/v1"), route("/", "any.root")),
    ]
)


def test_path_parameters_are_extracted_and_decoded() -> None:
    match = TABLE.match("api.local", "GET", "/v1/files/a%20b.txt")
    assert (match.operation_id, match.path_params) == ("users.file", {"name": "a b.txt"})


def test_an_encoded_slash_stays_inside_one_parameter() -> None:
    assert TABLE.match("api.local", "GET", "/v1/files/a%2Fb").path_params == {"name": "a/b"}


def test_concrete_path_beats_template() -> None:
    assert TABLE.match("api.local", "GET", "/v1/users/me").operation_id == "users.me"
    assert TABLE.match("api.local", "GET", "/v1/users/42").operation_id == "users.get"


def test_host_match_ignores_port_and_case() -> None:
    assert request_host("API.Local:8080") == "api.local"
    assert TABLE.match("API.local:8080", "GET", "/v1/users/1").func.name == "users"


def test_named_host_beats_any_host_and_any_host_catches_the_rest() -> None:
    assert TABLE.match("other.local", "GET", "/v1/users/1").operation_id == "any.get"
    assert TABLE.match("other.local", "GET", "/").operation_id == "any.root"


def test_method_picks_the_operation() -> None:
    assert TABLE.match("api.local", "delete", "/v1/users/7").operation_id == "users.delete"


def test_known_path_with_wrong_method_lists_allowed_methods() -> None:
    match = TABLE.match("api.local", "POST", "/v1/users/7")
    assert match.func is None and match.allowed_methods == ["DELETE", "GET"]


def test_unknown_path_matches_nothing() -> None:
    match = TABLE.match("api.local", "GET", "/v2/users/7")
    assert match.func is None and match.allowed_methods == []


def test_base_path_must_end_at_a_segment_boundary() -> None:
    assert TABLE.match("x.local", "GET", "/v1users/7").func is None
