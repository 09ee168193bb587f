"""Request validation (openapi-core) on its own: what the Func receives."""

from funcatron_wf.engine.contracts import Body, RequestEnvelope
from funcatron_wf.engine.validation import OperationValidator

SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "t", "version": "1"},
    "servers": [{"url": "http://somewhere.else:9999/base"}],
    "paths": {
        "/events/{day}": {
            "post": {
                "operationId": "m.f",
                "parameters": [
                    {
                        "name": "day",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "date"},
                    },
                    {"name": "id", "in": "query", "schema": {"type": "string", "format": "uuid"}},
                ],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": {"description": "ok"}},
            }
        }
    },
}


def request(query: dict[str, list[str]], content_type: str = "application/json") -> RequestEnvelope:
    return RequestEnvelope(
        request_id="a" * 32,
        source="test",
        host="any.host:1234",
        method="POST",
        path="/base/events/2026-11-28",
        query=query,
        headers={"content-type": content_type},
        body=Body.from_json({}),
    )


def test_formats_stay_json_strings_and_servers_do_not_matter() -> None:
    uid = "0b9e8c1e-8d1e-4f7e-9a62-d1e7c2b0f001"
    validated = OperationValidator(SPEC).validate(
        request({"id": [uid]}), "/events/2026-11-28", b"{}"
    )
    assert validated.violations == []
    assert validated.parameters == {"day": "2026-11-28", "id": uid}


def test_unsupported_media_type_is_reported_apart_from_violations() -> None:
    validated = OperationValidator(SPEC).validate(
        request({}, "text/csv"), "/events/2026-11-28", b"a,b"
    )
    assert validated.violations == []
    assert "text/csv" in validated.unsupported_media_type


def test_a_body_that_is_not_utf8_is_a_violation_not_a_crash() -> None:
    validated = OperationValidator(SPEC).validate(request({}), "/events/2026-11-28", b'{"\xff"}')
    assert validated.violations == [
        {"in": "body", "name": "", "reason": "the body does not parse as application/json"}
    ]
