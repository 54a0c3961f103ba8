"""Genotype transformations for the paper's ablations (Tables 6 and 7), as pure
functions from .bmg text to .bmg text.

- Fusion ablation (Table 7): keep every cell's name and inputs, replace its body by a
  hand-made fusion (`with_fusion`): Sum (DARTS), ConcatFC (MFAS), MHA (two attention
  heads, Transformer) or AoA (AoANet), the bodies of `examples/*.bmg`.
- Feature-selection ablation (Table 6): keep every cell's body, change its inputs
  (`with_inputs`): late fusion, random pairs, or one modality only.

Every result is printed in canonical form, carries `ablation = "..."` in its meta block
(the other meta entries describe the search it derives from) and is validated; an
invalid result raises AblationError instead of reaching the compiler.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

from bmnas_dsl.errors import AblationError
from bmnas_dsl.lang import ast
from bmnas_dsl.lang.formatter import format_file
from bmnas_dsl.passes.pipeline import analyse_text

Pair = tuple[str, str]


def _ref(name: str) -> ast.Ref:
    return ast.Ref(tuple(name.split(".")))


def _step(name: str, op: str, a: str, b: str) -> ast.Step:
    return ast.Step(name, op, (_ref(a), _ref(b)))


def _out(*steps: str) -> ast.Out:
    return ast.Out(tuple(_ref(s) for s in steps))


# The bodies of examples/sum.bmg, concatfc.bmg, mha.bmg and aoa.bmg (docs/language.md
# explains each). MHA's second head swaps query and key: our Attention has no per-head
# projections, so two heads on the same (query, key) pair would compute the same thing.
FUSIONS: dict[str, tuple[ast.CellItem, ...]] = {
    "Sum": (_step("s1", "Sum", "x", "y"), _out("s1")),
    "ConcatFC": (_step("s1", "ConcatFC", "x", "y"), _out("s1")),
    "MHA": (
        _step("head1", "Attention", "x", "y"),
        _step("head2", "Attention", "y", "x"),
        _out("head1", "head2"),
    ),
    "AoA": (
        _step("attended", "Attention", "x", "y"),
        _step("gated", "LinearGLU", "attended", "x"),
        _out("gated"),
    ),
}


def parse_model(text: str) -> tuple[ast.File, ast.Model]:
    """The file and its model; AblationError unless the genotype is valid."""
    result = analyse_text(text)
    if not result.ok or result.tree is None:
        problems = [d.message for d in result.diagnostics if d.is_error]
        raise AblationError("not a valid genotype: " + "; ".join(problems))
    return result.tree, result.tree.models[0]


def feature_names(model: ast.Model) -> list[str]:
    """Every declared feature, `modality.feature`, in declaration order."""
    return [f"{m.name}.{f.name}" for m in model.modalities for f in m.features]


def cell_inputs(text: str) -> list[Pair]:
    """Each cell's (x, y), in declaration order."""
    _, model = parse_model(text)
    return [(c.x.text, c.y.text) for c in model.cells]


def allowed_inputs(model: ast.Model, cell: int, cells: bool = True) -> list[str]:
    """The nodes cell number `cell` (0-based, declaration order) may read: every
    feature, then (with `cells`, the search's default `--cell-inputs any`) every cell
    declared before it. Earlier-declared cells only, so any choice stays acyclic."""
    earlier = [c.name for c in model.cells[:cell]] if cells else []
    return feature_names(model) + earlier


def _finish(file: ast.File, model: ast.Model, label: str) -> str:
    """Tag, print and validate a transformed model."""
    entry = ast.MetaEntry("ablation", label, f'"{label}"')
    old = model.meta[0].entries if model.meta else ()
    kept = tuple(e for e in old if e.key != "ablation")
    model = dataclasses.replace(model, meta=(ast.Meta((*kept, entry)),))
    # Comments anchor to source spans, which new nodes lack: variants carry none.
    text = format_file(dataclasses.replace(file, models=(model,), comments=()))
    result = analyse_text(text)
    if not result.ok:
        problems = [d.message for d in result.diagnostics if d.is_error]
        raise AblationError(f"{label}: invalid variant: " + "; ".join(problems))
    return text


def with_fusion(text: str, fusion: str) -> str:
    """Every cell's body replaced by the fusion `fusion` (a key of FUSIONS) over the
    cell's own (x, y); names, inputs and `output` unchanged (Table 7)."""
    if fusion not in FUSIONS:
        raise AblationError(f"unknown fusion {fusion!r}; known: {', '.join(FUSIONS)}")
    file, model = parse_model(text)
    cells = tuple(dataclasses.replace(c, items=FUSIONS[fusion]) for c in model.cells)
    return _finish(file, dataclasses.replace(model, cells=cells), fusion)


def with_inputs(text: str, pairs: Sequence[Pair], label: str) -> str:
    """Cell k reads pairs[k] (declaration order); bodies and `output` unchanged
    (Table 6)."""
    file, model = parse_model(text)
    if len(pairs) != len(model.cells):
        raise AblationError(f"{len(pairs)} input pairs for {len(model.cells)} cells")
    cells = tuple(
        dataclasses.replace(c, x=_ref(x), y=_ref(y))
        for c, (x, y) in zip(model.cells, pairs, strict=True)
    )
    return _finish(file, dataclasses.replace(model, cells=cells), label)


def late_fusion_pairs(text: str) -> list[Pair]:
    """Late fusion (the paper's (Video 4, Skeleton 4)): each cell reads the last
    feature of two backbones. With two modalities every cell reads the same pair; with
    more, cell k takes the k-th pair of last features (cycling)."""
    _, model = parse_model(text)
    last = [f"{m.name}.{m.features[-1].name}" for m in model.modalities]
    if len(last) < 2:
        raise AblationError("late fusion needs at least two modalities")
    pairs = [(a, b) for i, a in enumerate(last) for b in last[i + 1 :]]
    return [pairs[k % len(pairs)] for k in range(len(model.cells))]


def random_pairs(text: str, rng: np.random.Generator, cells: bool = True) -> list[Pair]:
    """Random feature selection (the paper's "Random" row): cell k reads two distinct
    nodes drawn uniformly, without replacement, from `allowed_inputs` (features and, with
    `cells`, earlier cells). As in derivation, x is the node that comes first in that
    list (features before cells), so a cell reading an earlier cell has it as y."""
    _, model = parse_model(text)
    pairs = []
    for k in range(len(model.cells)):
        nodes = allowed_inputs(model, k, cells)
        i, j = sorted(int(v) for v in rng.choice(len(nodes), size=2, replace=False))
        pairs.append((nodes[i], nodes[j]))
    return pairs


def draw_rng(seed: int, draw: int) -> np.random.Generator:
    """The generator of random draw `draw` for seed `seed`: numpy's default generator
    seeded with the entropy [seed, draw] (a SeedSequence), so every (seed, draw) has its
    own independent, reproducible stream."""
    return np.random.default_rng([seed, draw])


def unimodal_pairs(text: str, modality: str) -> list[Pair]:
    """The cells' inputs moved onto one modality: a feature input becomes the feature
    of `modality` at the same depth (position in its modality, clamped to the last),
    a cell input stays. Where x and y then coincide, y becomes the deepest feature of
    `modality` other than x. The searched depths are kept, only the backbone changes."""
    _, model = parse_model(text)
    target = next((m for m in model.modalities if m.name == modality), None)
    if target is None:
        raise AblationError(f"no modality {modality!r}")
    own = [f"{modality}.{f.name}" for f in target.features]
    depth = {
        f"{m.name}.{f.name}": i
        for m in model.modalities
        for i, f in enumerate(m.features)
    }

    def moved(name: str) -> str:
        return own[min(depth[name], len(own) - 1)] if name in depth else name

    pairs = []
    for cell in model.cells:
        x, y = moved(cell.x.text), moved(cell.y.text)
        if x == y:
            others = [f for f in own if f != x]
            if not others:
                raise AblationError(f"modality {modality!r} has a single feature")
            y = others[-1]
        pairs.append((x, y))
    return pairs


def describe(text: str) -> str:
    """One line per genotype: `c1(x, y): op op -> out; c2(...)...`, for tables."""
    _, model = parse_model(text)
    parts = []
    for cell in model.cells:
        ops = " ".join(s.op for s in cell.steps)
        parts.append(f"{cell.name}({cell.x.text}, {cell.y.text}): {ops}")
    return "; ".join(parts)
