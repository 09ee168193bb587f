"""Reading a chain file: YAML (PyYAML's safe loader) checked against the
format's JSON Schema (chain.schema.json), every problem reported with the
file and the line it is on.

Anchors and aliases are refused: a chain is short enough to write out, and an
alias can make a small file expand into a huge document (a YAML bomb).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from funcatron_wf.engine.errors import ChainError

CHAIN_FILE_SUFFIX = ".chain.yaml"
# Where each value sits: its path in the document (keys and indexes) -> line (1-based).
Lines = dict[tuple[str | int, ...], int]


@dataclass(frozen=True)
class ChainFile:
    """A chain file as written, valid against the schema, with its lines."""

    path: Path
    document: dict[str, Any]
    lines: Lines

    def line(self, *where: str | int) -> int:
        """The line of ``where`` (or of the nearest enclosing value)."""
        for end in range(len(where), -1, -1):
            if where[:end] in self.lines:
                return self.lines[where[:end]]
        return 1


@cache
def chain_schema() -> dict[str, Any]:
    text = resources.files("funcatron_wf.chains").joinpath("chain.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


def chain_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*" + CHAIN_FILE_SUFFIX))


def _refuse_aliases(path: Path, text: str) -> None:
    """Scan the YAML events (nothing is expanded yet) for an alias."""
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise ChainError(
                str(path),
                "YAML anchors and aliases are not allowed in chain files; write the value out",
                line=event.start_mark.line + 1 if event.start_mark else None,
            )


def _node_lines(node: yaml.Node, where: tuple[str | int, ...], lines: Lines) -> None:
    lines[where] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _node_lines(value, (*where, str(key.value)), lines)
            lines[(*where, str(key.value))] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _node_lines(item, (*where, index), lines)


def load_chain_file(path: Path) -> ChainFile:
    """Read, parse and schema-check one chain file, or raise ChainError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ChainError(str(path), f"cannot read the file: {err}") from err
    loader = yaml.SafeLoader(text)
    try:
        _refuse_aliases(path, text)
        node = loader.get_single_node()
        if node is None:
            raise ChainError(str(path), "the file is empty; a chain needs 'chain:' and 'steps:'")
        lines: Lines = {}
        _node_lines(node, (), lines)
        document = loader.construct_document(node)
    except yaml.MarkedYAMLError as err:
        line = err.problem_mark.line + 1 if err.problem_mark else None
        raise ChainError(str(path), f"not valid YAML: {err.problem or err}", line=line) from err
    except yaml.YAMLError as err:
        raise ChainError(str(path), f"not valid YAML: {err}") from err
    finally:
        loader.dispose()
    chain = ChainFile(path, document, lines)
    errors = list(Draft202012Validator(chain_schema()).iter_errors(document))
    if errors:
        raise _schema_error(chain, errors)
    return chain


def _schema_error(chain: ChainFile, errors: list[ValidationError]) -> ChainError:
    """The most telling problem (jsonschema's best_match descends into oneOf)."""
    error = best_match(errors)
    where = tuple(error.absolute_path)
    at = ".".join(str(part) for part in where) or "(top level)"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = sorted(error.schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        problem = f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
        problem += f"at {at}; allowed: {', '.join(allowed)}"
        line = chain.line(*where, unknown[0])
    else:
        problem = f"at {at}: {error.message}"
        line = chain.line(*where)
    return ChainError(str(chain.path), problem, line=line)
