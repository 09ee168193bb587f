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
