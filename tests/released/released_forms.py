"""Released genotypes for the tests of `bmnas import`: printed forms, a faithful replica
of the released namedtuples for writing real pickles, and the examples in released form.

The printed forms are what the released code logs (`str(genotype)` of its namedtuples):
the two of the issue and the README, and the other examples written as the released
search would have derived them under the NTU preset (video.layer4 = 2, video.pooled = 3,
skeleton.fc7 = 7).
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import sys
import types
from collections.abc import Iterator

RELEASED_MODULE = "models.search.darts.genotypes"

# The paper's best NTU architecture (examples/ntu_config1.bmg), as the issue prints it.
NTU_CONFIG1 = (
    "Genotype(edges=[('skip', 2), ('skip', 7), ('skip', 2), ('skip', 3)], "
    "steps=[StepGenotype(inner_edges=[('skip', 0), ('skip', 1), ('skip', 2), "
    "('skip', 0)], inner_steps=['LinearGLU', 'LinearGLU'], inner_concat=[2, 3]), "
    "StepGenotype(inner_edges=[('skip', 0), ('skip', 1), ('skip', 2), ('skip', 0)], "
    "inner_steps=['ScaleDotAttn', 'ScaleDotAttn'], inner_concat=[2, 3])], "
    "concat=[8, 9])"
)

# The MM-IMDB genotype of the released README's evaluation log, whose "Fusion Model
# Params" line says 532416 (C = 192, L = 16, one step per cell). Its second cell reads
# (y, x): inner_edges [('skip', 1), ('skip', 0)].
MMIMDB_README = (
    "Genotype(edges=[('skip', 0), ('skip', 4), ('skip', 1), ('skip', 4)], "
    "steps=[StepGenotype(inner_edges=[('skip', 0), ('skip', 1)], "
    "inner_steps=['LinearGLU'], inner_concat=[2]), StepGenotype(inner_edges="
    "[('skip', 1), ('skip', 0)], inner_steps=['LinearGLU'], inner_concat=[2])], "
    "concat=[6, 7])"
)
MMIMDB_README_LOGGED_PARAMS = 532_416


def one_cell(
    x: int, y: int, edges: list[int], ops: list[str], concat: list[int]
) -> str:
    """The printed form of a one-cell NTU genotype (cell node 8)."""
    pairs = ", ".join(f"('skip', {i})" for i in edges)
    return (
        f"Genotype(edges=[('skip', {x}), ('skip', {y})], steps=[StepGenotype("
        f"inner_edges=[{pairs}], inner_steps={ops!r}, inner_concat={concat!r})], "
        "concat=[8])"
    )


# examples/NAME.bmg -> its genotype in released form (NTU preset).
EXAMPLES = {
    "ntu_config1": NTU_CONFIG1,
    "aoa": one_cell(2, 7, [0, 1, 2, 0], ["ScaleDotAttn", "LinearGLU"], [3]),
    "concatfc": one_cell(2, 7, [0, 1], ["ConcatFC"], [2]),
    "late_fusion": one_cell(3, 7, [0, 1], ["ConcatFC"], [2]),
    "mha": one_cell(2, 7, [0, 1, 1, 0], ["ScaleDotAttn", "ScaleDotAttn"], [2, 3]),
    "sum": one_cell(2, 7, [0, 1], ["Sum"], [2]),
}


@contextlib.contextmanager
def released_module() -> Iterator[types.ModuleType]:
    """`models.search.darts.genotypes` as the released code defines it, importable for
    as long as the block runs (pickle looks classes up by module name), then gone."""
    names = ["models", "models.search", "models.search.darts", RELEASED_MODULE]
    assert not any(name in sys.modules for name in names)
    modules = {name: types.ModuleType(name) for name in names}
    for parent, child in itertools.pairwise(names):
        setattr(modules[parent], child.rsplit(".", 1)[1], modules[child])
    genotypes = modules[RELEASED_MODULE]
    genotypes.Genotype = collections.namedtuple(
        "Genotype", "edges steps concat", module=RELEASED_MODULE
    )
    genotypes.StepGenotype = collections.namedtuple(
        "StepGenotype", "inner_edges inner_steps inner_concat", module=RELEASED_MODULE
    )
    sys.modules.update(modules)
    try:
        yield genotypes
    finally:
        for name in names:
            del sys.modules[name]


def released_object(module: types.ModuleType, printed: str) -> object:
    """The released namedtuples' value of a printed form (a test-side eval of trusted
    text: the forms above)."""
    return eval(
        printed,
        {"Genotype": module.Genotype, "StepGenotype": module.StepGenotype},
    )
