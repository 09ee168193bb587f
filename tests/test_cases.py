"""Cases files (engine/cases.py): what a hand-edited case may say, what it
replays as, and what counts as a changed response."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from funcatron_wf.engine.blobs import BlobStore
from funcatron_wf.engine.cases import Case, CaseError, CaseResponse, read_cases, response_diff

CASE = {
    "request_id": "a" * 32,
    "func": "hello",
    "request": {"method": "post", "host": "hello.local", "path": "/v1/greetings",
                "headers": {"Content-Type": "application/json", "X-Request-Id": "x" * 32},
                "body": {"json": {"name": "Ada"}}},
    "response": {"status": 201, "content_type": "application/json",
                 "body": {"json": {"greeting": "Hello, Ada"}}},
}  # fmt: skip


def write(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "cases.jsonl"
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    )
    return path


def test_a_hand_written_case_replays_as_a_request_of_its_own(tmp_path: Path) -> None:
    (case,) = read_cases(write(tmp_path, CASE))
    envelope = case.envelope()
    assert envelope.method == "POST" and envelope.source == "replay"
    assert envelope.request_id != case.request_id and len(envelope.request_id) == 32
    assert envelope.headers == {"content-type": "application/json"}  # its id not sent again
    assert json.loads(envelope.body.raw()) == {"name": "Ada"}
    bare = {**CASE, "request": {**CASE["request"], "headers": {}}}
    assert read_cases(write(tmp_path, bare))[0].envelope().headers == {
        "content-type": "application/json"
    }


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "cases.jsonl:2: not a case: Expecting property name"),
        ([1, 2], "cases.jsonl:2: not a case: not a JSON object"),
        ({"request": {}}, 'needs a "request" and a "response" object'),
        ({**CASE, "request": {"method": "GET"}}, "the request has no host, path"),
        ({**CASE, "response": {"status": "ok"}}, "the response has no status"),
        ({**CASE, "request": {**CASE["request"], "body": {"weird": 1}}},
         "the request's body is not null, {\"json\": ...}, {\"text\": \"...\"} or {\"base64\": \"...\"}"),
        ({**CASE, "response": {**CASE["response"], "body": {"base64": "!!x"}}},
         "the response's body: base64 that does not decode"),
    ],
)  # fmt: skip
def test_a_bad_line_is_refused_naming_its_line(tmp_path: Path, line: object, message: str) -> None:
    with pytest.raises(CaseError) as refused:
        read_cases(write(tmp_path, CASE, line))
    assert message in str(refused.value)


def test_an_empty_file_is_no_passing_replay(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="no cases in it"):
        read_cases(write(tmp_path, ""))


def test_a_body_over_the_inline_limit_goes_through_the_blob_store(tmp_path: Path) -> None:
    big = {**CASE, "request": {**CASE["request"], "body": {"text": "x" * 5000}}}
    (case,) = read_cases(write(tmp_path, big))
    with pytest.raises(
        CaseError, match=r"over the inline limit \(1024\): give the platform.s blob store"
    ):
        case.envelope(None, inline_body_max=1024)
    blobs = BlobStore(tmp_path / "blobs")
    blobs.prepare()
    envelope = case.envelope(blobs, inline_body_max=1024)
    assert envelope.body.encoding == "ref" and blobs.read(envelope.body.data) == b"x" * 5000


def test_what_counts_as_a_changed_response() -> None:
    case = Case.from_dict(CASE)
    same = CaseResponse(201, "application/json", {"json": {"greeting": "Hello, Ada"}})
    assert response_diff(case, same, "b" * 32) == ""
    changed = CaseResponse(201, "application/json", {"json": {"greeting": "Hi, Ada"}})
    assert '+  "greeting": "Hi, Ada"' in response_diff(case, changed, "b" * 32)
    problem = {"json": {"status": 500, "request_id": "a" * 32, "traceback": "/work/x.py"}}
    failed = Case.from_dict({**CASE, "response": {"status": 500, "body": problem}})
    again = {"json": {"status": 500, "request_id": "b" * 32, "traceback": "/tmp/x.py"}}
    # its own request id and dev mode's file paths are no difference
    assert response_diff(failed, CaseResponse(500, "", again), "b" * 32) == ""
