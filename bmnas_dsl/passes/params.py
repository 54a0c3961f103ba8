"""Parameter counts of a pruned network, from the IR alone (semantics.md conventions)."""

from __future__ import annotations

import networkx as nx

from bmnas_dsl.ir.graph import nodes_of_kind
from bmnas_dsl.ir.ops import OPS


def reshape_params(C: int, in_channels: int) -> int:
    """Conv1d(C_in, C, 1) with bias, then BatchNorm1d(C)."""
    return C * (in_channels + 3)


def cell_params(
    C: int, L: int, ops: list[str], out_count: int, project: bool | None = None
) -> int:
    """Step ops, the cell LayerNorm([C, L]) and, for k > 1 outputs, the k*C -> C projection.

    `project` is given by pruning when Zero entries of `out` changed k (see prune.py).
    """
    total = sum(OPS[op].params(C, L) for op in ops) + 2 * C * L
    if project is None:
        project = out_count > 1
    if project:
        total += out_count * C * C + C + 2 * C
    return total


def count_params(pruned: nx.MultiDiGraph) -> dict[str, int]:
    """`reshape`, `cells`, `head` (head LayerNorm), `classifier` (the Linear) and `total`."""
    C, L, classes = pruned.graph["C"], pruned.graph["L"], pruned.graph["classes"]
    reshape = sum(
        reshape_params(C, pruned.nodes[n]["shape"][0])
        for n in nodes_of_kind(pruned, "feature")
    )
    cells = 0
    for node in nodes_of_kind(pruned, "cell"):
        data = pruned.nodes[node]
        ops = [pruned.nodes[s]["op"] for s in data["steps"]]
        cells += cell_params(C, L, ops, len(data["out"]), data["project"])
    width = len(pruned.nodes["output"]["cells"]) * C * L
    head = 2 * width
    classifier = width * classes + classes
    return {
        "reshape": reshape,
        "cells": cells,
        "head": head,
        "classifier": classifier,
        "total": reshape + cells + head + classifier,
    }
