"""Reading YAML we did not write (a Func's spec) without letting a few lines
of anchors and aliases expand into billions of values (a "YAML bomb": nine
aliases to nine aliases to ... is 9^9 values once anything walks the
document). The document's node graph is composed first, and its expanded
size counted with each shared node counted once; past MAX_VALUES, or when an
alias refers to the node it sits in, the document is refused. Chain files
refuse aliases altogether (chains/loader.py)."""

from __future__ import annotations

from typing import Any

import yaml

MAX_VALUES = 1_000_000  # a spec's values once every alias is written out


class YamlTooLarge(ValueError):
    pass


def load_bounded(text: str, *, max_values: int = MAX_VALUES) -> Any:
    """``yaml.safe_load(text)``, refusing a document whose aliases expand it
    past ``max_values`` values (YamlTooLarge) or into itself."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()  # parsed once: counted, then built
        if node is None:
            return None
        if _expanded(node, {}, set(), max_values) > max_values:
            raise YamlTooLarge(
                f"its anchors and aliases expand it to more than {max_values:,} values; "
                "write the shared parts out, or use $ref"
            )
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _expanded(node: yaml.Node, sizes: dict[int, int], open_nodes: set[int], limit: int) -> int:
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        raise YamlTooLarge("an alias refers to the value it sits in (a recursive document)")
    open_nodes.add(key)
    size = 1
    if isinstance(node, yaml.SequenceNode):
        children: list[yaml.Node] = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    else:
        children = []
    for child in children:
        size += _expanded(child, sizes, open_nodes, limit)
        if size > limit:
            break  # enough to refuse: stop counting
    open_nodes.discard(key)
    sizes[key] = size
    return size
