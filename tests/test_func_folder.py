import shutil
from pathlib import Path

import pytest

from funcatron_wf.engine.errors import FuncFolderError
from funcatron_wf.workers.func_folder import FuncFolder
from tests.conftest import EXAMPLES, ONE_OPERATION_SPEC, write_func_folder


def make_folder(tmp_path: Path, operation_id: str, code: dict[str, str]) -> Path:
    return write_func_folder(
        tmp_path / "func", ONE_OPERATION_SPEC.format(operation_id=operation_id), code
    )


def test_sha_is_stable_and_changes_with_content(tmp_path: Path) -> None:
    copy = tmp_path / "hello"
    shutil.copytree(EXAMPLES / "hello", copy, ignore=shutil.ignore_patterns("__pycache__"))
    original = FuncFolder.load(EXAMPLES / "hello")
    assert FuncFolder.load(copy).sha == original.sha
    (copy / "greetings.py").write_text("# changed\n")
    assert FuncFolder.load(copy).sha != original.sha
    assert original.task_queue == f"funcatron.func.hello.{original.sha[:12]}"


def test_operations_resolve_to_functions_that_can_import_siblings(tmp_path: Path) -> None:
    folder = make_folder(
        tmp_path,
        "ff_ops_ok.handle",
        {
            "ff_ops_ok.py": "from ff_helper_ok import VALUE\ndef handle():\n    return VALUE\n",
            "ff_helper_ok.py": "VALUE = {'ok': True}\n",
        },
    )
    operations = FuncFolder.load(folder).resolve_operations()
    assert operations["ff_ops_ok.handle"]() == {"ok": True}


@pytest.mark.parametrize(
    ("operation_id", "code", "expected"),
    [
        ("ff_ops_a.missing", {"ff_ops_a.py": "def other(): pass\n"}, "has no function 'missing'"),
        ("ff_nowhere.handle", {}, "names module 'ff_nowhere', which is not in this folder"),
        ("handle", {}, "must be module.function"),
        (
            "ff_ops_b.handle",
            {"ff_ops_b.py": "raise ImportError('bad dep')\n"},
            "importing 'ff_ops_b' failed",
        ),
        ("json.dumps", {}, "already loaded from"),
    ],
)
def test_operation_id_problems_name_the_operation(tmp_path, operation_id, code, expected) -> None:
    folder = FuncFolder.load(make_folder(tmp_path, operation_id, code))
    with pytest.raises(FuncFolderError, match=expected) as caught:
        folder.resolve_operations()
    assert caught.value.operation_id == operation_id
    assert f"operationId {operation_id!r} (GET /x)" in str(caught.value)


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(FuncFolderError, match="not a folder"):
        FuncFolder.load(tmp_path / "absent")


def test_every_problem_of_a_folder_is_reported_at_once(tmp_path: Path) -> None:
    spec = (
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n"
        "  /a:\n    get:\n      operationId: listThings\n      responses: {'200': {description: ok}}\n"
        "  /b:\n    get:\n      operationId: ff_many.missing\n      responses: {'200': {description: ok}}\n"
    )
    folder = write_func_folder(tmp_path / "many", spec, {"ff_many.py": "def other(): pass\n"})
    with pytest.raises(FuncFolderError) as caught:
        FuncFolder.load(folder).resolve_operations()
    message = str(caught.value)
    assert (
        "operationId 'listThings' (GET /a) must be module.function (e.g. handlers.list_things)"
        in message
    )
    assert (
        "operationId 'ff_many.missing' (GET /b): module 'ff_many' has no function 'missing'"
        in message
    )


def test_a_controller_module_names_the_module_and_snake_case_finds_the_function(
    tmp_path: Path,
) -> None:
    spec = (
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\nx-openapi-router-controller: ff_ctl\n"
        "paths:\n  /a:\n    get:\n      operationId: find thing by id\n"
        "      responses: {'200': {description: ok}}\n"
        "  /b:\n    x-funcatron-module: ff_other\n    get:\n      operationId: listData-sets\n"
        "      responses: {'200': {description: ok}}\n"
    )
    code = {
        "ff_ctl.py": "def find_thing_by_id(): return {}\n",
        "ff_other.py": "def list_data_sets(): return []\n",
    }
    operations = FuncFolder.load(
        write_func_folder(tmp_path / "ctl", spec, code)
    ).resolve_operations()
    assert operations["find thing by id"].__module__ == "ff_ctl"
    assert operations["listData-sets"].__name__ == "list_data_sets"
