"""The dataclasses that cross Temporal keep evaluated annotations.

The SDK's data converter calls ``typing.get_type_hints`` on every dataclass
it decodes, and string annotations (``from __future__ import annotations``)
make that call evaluate each one again: three times the decode cost of a
request's payloads (docs/performance.md). This fails if such an import
comes back to one of these modules.
"""

import dataclasses

import pytest

from funcatron_wf.engine import contracts

PAYLOAD_TYPES = [
    value
    for value in vars(contracts).values()
    if dataclasses.is_dataclass(value) and value.__module__ == contracts.__name__
]


def test_the_contracts_module_defines_every_payload() -> None:
    names = {cls.__name__ for cls in PAYLOAD_TYPES}
    assert {
        "RequestEnvelope",
        "ResponseEnvelope",
        "RouteDecision",
        "RoutedRequest",
        "FuncCall",
        "RegisteredFunc",
        "RegistrySnapshot",
    } <= names


@pytest.mark.parametrize("cls", PAYLOAD_TYPES, ids=lambda cls: cls.__name__)
def test_annotations_are_evaluated(cls: type) -> None:
    strings = {name: hint for name, hint in cls.__annotations__.items() if isinstance(hint, str)}
    assert not strings, f"{cls.__module__}.{cls.__name__} has string annotations: {strings}"
