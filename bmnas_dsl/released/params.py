"""The parameter count the released code logs ("Fusion Model Params"): the reshape
layers of the features some cell reads, plus the fusion network (cells and the head
LayerNorm), not the classifier.

It is computed from the released structure, as the released code builds it: every
step and cell of the genotype counts, even one that never reaches the output. bmnas
prunes those (W001, W003), so its own `reshape + cells + head` is lower exactly when
the genotype has such dead parts. The layer sizes are bmnas's (passes/params.py), which
follow the released layers (semantics.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from bmnas_dsl.passes.params import cell_params, reshape_params
from bmnas_dsl.released.genotype import Structure
from bmnas_dsl.released.presets import Feature


def released_params(
    structure: Structure,
    features: Sequence[Feature],
    *,
    C: int,
    L: int,
    node_multiplier: int,
) -> int:
    """Fusion Model Params of the released network of `structure`."""
    read = {node for cell in structure.cells for node in (cell.x, cell.y)}
    reshape = sum(
        reshape_params(C, shape[0])
        for index, (_, shape) in enumerate(features)
        if index in read
    )
    cells = sum(
        cell_params(C, L, [step.op for step in cell.steps], node_multiplier)
        for cell in structure.cells
    )
    head = 2 * structure.output * C * L  # LayerNorm([C * len(concat), L])
    return reshape + cells + head
