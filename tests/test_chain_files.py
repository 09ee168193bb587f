"""Chain files: every malformed chain refused with the file, the line and
what is wrong (chains/loader.py, chains/compiler.py), and a valid one
compiled to the plan the engine runs."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from funcatron_wf.engine.errors import ChainError, FuncFolderError
from funcatron_wf.workers.func_folder import FuncFolder, link_chains
from tests.conftest import write_func_folder

SPEC = """openapi: 3.0.3
info: {title: t, version: '1'}
paths:
  /a:
    post:
      operationId: ops.a
      responses: {'200': {description: ok}}
  /b:
    post:
      operationId: ops.b
      responses: {'200': {description: ok}}
  /served:
    post:
      x-funcatron-chain: c
      responses: {'200': {description: ok}}
"""
CODE = {"ops.py": "def a():\n    return {}\n\ndef b():\n    return {}\n"}


def chain_folder(tmp_path: Path, chain: str, *, name: str = "t") -> Path:
    folder = write_func_folder(tmp_path / name, SPEC, CODE)
    (folder / "c.chain.yaml").write_text(chain)
    return folder


MALFORMED = [
    (
        "chain: c\nsteps:\n  - name: a\n    call: ops.a\n    bdy: x\n",
        "c.chain.yaml:5: unknown key 'bdy' at steps.0; allowed: args, body, call, name, reply, retry, timeout, when",
    ),
    ("chain: c\n", "c.chain.yaml:1: at (top level): 'steps' is a required property"),
    ("chain: c\nsteps: []\n", "c.chain.yaml:2: at steps: [] should be non-empty"),
    (
        "chain: c\nsteps:\n  - {name: a, call: ops.a}\n  - {name: a, call: ops.b}\n",
        "c.chain.yaml:4: step name 'a' is used twice (first on line 3); step names are unique in a chain",
    ),
    (
        "chain: c\nsteps:\n  - parallel:\n      - {name: a, call: ops.a}\n      - {name: a, call: ops.b}\n",
        "c.chain.yaml:5: step name 'a' is used twice (first on line 4)",
    ),
    (
        "chain: c\nsteps:\n  - {name: a, call: ops.nope}\n",
        "c.chain.yaml:3: step calls 'ops.nope': Func 't' has no operation 'ops.nope' (it has: ops.a, ops.b)",
    ),
    (
        "chain: c\nsteps:\n  - {name: a, call: 'chain/c'}\n",
        "c.chain.yaml:3: step calls 'chain/c': that operation is served by chain 'c'; a step calls an operation served by code (chains do not nest)",
    ),
    (
        "chain: c\nsteps:\n  - name: a\n    call: ops.a\n    body: 'steps.[a'\n",
        "c.chain.yaml:5: steps.0.body is not a valid JMESPath expression: 'steps.[a'",
    ),
    (
        "chain: c\nsteps:\n  - name: a\n    call: ops.a\n    args: {x: 'a ||'}\n",
        "c.chain.yaml:5: steps.0.args.x is not a valid JMESPath expression",
    ),
    (
        "chain: c\nsteps:\n  - {name: a, call: ops.a, when: '<'}\n",
        "c.chain.yaml:3: steps.0.when is not a valid JMESPath expression",
    ),
    (
        "chain: c\nsteps:\n  - {name: a, call: ops.a}\nresult: '{a: }'\n",
        "c.chain.yaml:4: result is not a valid JMESPath expression",
    ),
    (
        "chain: c\nsteps:\n  - {name: a-b, call: ops.a}\n",
        "c.chain.yaml:3: at steps.0.name: 'a-b' does not match '^[A-Za-z_][A-Za-z0-9_]*$'",
    ),
    (
        "chain: c\nsteps:\n  - {name: a, call: ops.a, retry: 0}\n",
        "c.chain.yaml:3: at steps.0.retry",
    ),
    (
        "chain: c\nsteps:\n  - {name: a, call: ops.a, timeout: 0}\n",
        "c.chain.yaml:3: at steps.0.timeout: 0 is less than or equal to the minimum of 0",
    ),
    (
        "chain: c\nsteps:\n  - parallel:\n      - {name: a, call: ops.a}\n    when: x\n",
        "c.chain.yaml:5: unknown key 'when' at steps.0; allowed: parallel",
    ),
    ("chain: c\nsteps:\n  - {name: a, call: ops.a\n", "c.chain.yaml:4: not valid YAML"),
    ("", "c.chain.yaml: the file is empty; a chain needs 'chain:' and 'steps:'"),
    (
        "- just\n- a list\n",
        "c.chain.yaml:1: at (top level): ['just', 'a list'] is not of type 'object'",
    ),
    (
        "chain: c\nsteps:\n  - &step {name: a, call: ops.a}\n  - *step\n",
        "c.chain.yaml:4: YAML anchors and aliases are not allowed in chain files",
    ),
]


@pytest.mark.parametrize(("chain", "message"), MALFORMED)
def test_a_malformed_chain_is_refused_naming_file_line_and_problem(
    tmp_path: Path, chain: str, message: str
) -> None:
    folder = chain_folder(tmp_path, chain)
    with pytest.raises(ChainError) as raised:
        FuncFolder.load(folder)
    assert str(raised.value).startswith(str(folder / message.split(":", 1)[0]))
    assert message in str(raised.value)


def test_a_yaml_bomb_is_refused_at_once(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 9)}]\n" for n in range(8)
    )
    folder = chain_folder(tmp_path, bomb)
    started = time.monotonic()
    with pytest.raises(ChainError, match="anchors and aliases are not allowed"):
        FuncFolder.load(folder)
    assert time.monotonic() - started < 1


def test_steps_calling_another_func_are_checked_when_it_is_known(tmp_path: Path) -> None:
    folder = chain_folder(tmp_path, "chain: c\nsteps:\n  - {name: a, call: 'other:ops.x'}\n")
    alone = FuncFolder.load(folder)  # the other Func is not known here: checked at routing
    assert alone.chains[0].steps()[0].call == "other:ops.x"
    other = write_func_folder(
        tmp_path / "other", SPEC.replace("x-funcatron-chain: c", "x-funcatron-chain: c2"), {}
    )
    (other / "c2.chain.yaml").write_text("chain: c2\nsteps:\n  - {name: a, call: 't:ops.a'}\n")
    with pytest.raises(ChainError, match="Func 'other' has no operation 'ops.x'"):
        link_chains([alone, FuncFolder.load(other)])


def test_an_operation_naming_no_chain_is_refused(tmp_path: Path) -> None:
    folder = write_func_folder(tmp_path / "t", SPEC, CODE)
    with pytest.raises(
        FuncFolderError, match=r"x-funcatron-chain 'c', but no c.chain.yaml declares it"
    ):
        link_chains([FuncFolder.load(folder)])


def test_a_chain_declared_twice_is_refused(tmp_path: Path) -> None:
    folder = chain_folder(tmp_path, "chain: c\nsteps:\n  - {name: a, call: ops.a}\n")
    (folder / "again.chain.yaml").write_text("chain: c\nsteps:\n  - {name: b, call: ops.b}\n")
    with pytest.raises(
        ChainError, match=r"c.chain.yaml:1: chain 'c' is also declared in .*again.chain.yaml"
    ):
        FuncFolder.load(folder)


def test_a_valid_chain_compiles_to_its_plan(tmp_path: Path) -> None:
    folder = FuncFolder.load(
        chain_folder(
            tmp_path,
            "chain: c\nsteps:\n"
            "  - {name: a, call: ops.a, body: '{x: body}', args: {n: '`1`'}, timeout: 2, retry: true}\n"
            "  - parallel:\n      - {name: b, call: 't:ops.b', when: 'steps.a'}\n"
            "      - {name: d, call: ops.a, reply: false}\n"
            "result: 'steps.a'\n",
        )
    )
    (plan,) = folder.chains
    assert (plan.name, plan.result, [s.parallel for s in plan.stages]) == (
        "c",
        "steps.a",
        [False, True],
    )
    a, b, d = plan.steps()
    assert (a.func, a.operation_id, a.body, a.args, a.timeout, a.retry_attempts, a.line) == (
        "t",
        "ops.a",
        "{x: body}",
        {"n": "`1`"},
        2,
        3,
        3,
    )
    assert (b.call, b.when, d.reply) == ("t:ops.b", "steps.a", False)
    served = [route for route in folder.routes if route.chain]
    assert [(r.operation_id, r.chain) for r in served] == [("chain/c", "c")]
    assert folder.registration().chains == [plan]
