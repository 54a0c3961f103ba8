"""A discrete genotype (cells, their inputs and steps) as `.bmg` AST and canonical text.

The search derives a `Genotype` each epoch (`bmnas_dsl.search.derive`) and writes it
with `genotype_to_bmg`, through the same formatter as `bmnas fmt`, so searched genotypes
are canonical text like any formatted file. Every name and value is checked here, so
the printer never writes a file the parser or validation would refuse.

Node indices. Cell inputs index S = [features f_0..f_{F-1} (S order), cells c_0..]; step
operands index a cell's inner sequence [x, y, s_1, ..., s_M].
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bmnas_dsl.lang import ast
from bmnas_dsl.lang.ast import TASKS
from bmnas_dsl.lang.formatter import format_file
from bmnas_dsl.lang.names import MAX_IDENTIFIER_LENGTH, identifier_problem

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The parser clamps integers of more digits than this, so larger ones would not survive
# a round trip through the text.
_MAX_META_INT = 10**19


# --------------------------------------------------------------------------------------
# The genotype


@dataclass(frozen=True)
class StepChoice:
    """One derived step: `op(a, b)`, a and b indexing the cell's inner sequence."""

    op: str
    a: int
    b: int


@dataclass(frozen=True)
class CellChoice:
    """One derived cell: inputs x and y index S; the steps in order."""

    x: int
    y: int
    steps: tuple[StepChoice, ...]


@dataclass(frozen=True)
class Genotype:
    """A derived network: its cells in S order (cell k is node F + k of S)."""

    cells: tuple[CellChoice, ...]


# --------------------------------------------------------------------------------------
# .bmg output

MetaValue = str | int | float | bool


def _check_name(name: str, what: str, *, declared: bool = True) -> None:
    """Refuse a name the .bmg text could not carry (or that validation rejects)."""
    if not _NAME.fullmatch(name) or len(name) > MAX_IDENTIFIER_LENGTH:
        raise ValueError(f"{what} {name!r} is not a valid .bmg identifier")
    problem = identifier_problem(name) if declared else None
    if problem:
        raise ValueError(f"{what} {name!r} {problem}")


def _meta_entry(key: str, value: MetaValue) -> ast.MetaEntry:
    """A meta entry with its source spelling, as the parser would have built it."""
    _check_name(key, "meta key", declared=False)
    if isinstance(value, bool):
        return ast.MetaEntry(key, value, "true" if value else "false")
    if isinstance(value, str):
        if "\n" in value or "\r" in value:
            raise ValueError(f"meta value {key!r} must be a one-line string")
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return ast.MetaEntry(key, value, f'"{escaped}"')
    # numbers.Integral / Real also admit NumPy scalars, whose repr() is not a number
    # in NumPy 2 (`np.float64(0.5)`): they are converted to Python numbers first.
    if isinstance(value, numbers.Integral):
        integer = int(value)
        if abs(integer) >= _MAX_META_INT:
            raise ValueError(f"meta value {key!r} = {integer} is too large")
        return ast.MetaEntry(key, integer, str(integer))
    if isinstance(value, numbers.Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"meta value {key!r} = {number} is not a finite number")
        return ast.MetaEntry(key, number, repr(number))
    raise ValueError(f"meta value {key!r} has unsupported type {type(value).__name__}")


def _modalities(
    features: Sequence[tuple[str, tuple[int, ...]]],
) -> tuple[ast.Modality, ...]:
    """Group qualified features into modalities, keeping S order.

    A modality's features must be contiguous in S: S lists all features of each modality
    in declaration order, and the text can only declare them that way.
    """
    groups: list[tuple[str, list[ast.Feature]]] = []
    for qualified, shape in features:
        modality, _, feature = qualified.partition(".")
        _check_name(modality, "modality name")
        _check_name(feature, "feature name")
        if groups and groups[-1][0] == modality:
            groups[-1][1].append(ast.Feature(feature, tuple(shape)))
        elif any(name == modality for name, _ in groups):
            raise ValueError(
                f"the features of modality {modality!r} are not contiguous in S"
            )
        else:
            groups.append((modality, [ast.Feature(feature, tuple(shape))]))
    return tuple(ast.Modality(name, tuple(feats)) for name, feats in groups)


def _ref(name: str) -> ast.Ref:
    return ast.Ref(tuple(name.split(".")))


def _inner_name(index: int) -> str:
    """Inner sequence [x, y, s1, ..., sM]: index 0 -> x, 1 -> y, i + 2 -> s{i+1}."""
    return ("x", "y")[index] if index < 2 else f"s{index - 1}"


def _cell(
    k: int, cell: CellChoice, node_names: Sequence[str], node_multiplier: int
) -> ast.Cell:
    """Cell k as AST. `node_names` are the names of the nodes that precede it in S."""
    name = f"c{k + 1}"
    for node in (cell.x, cell.y):
        if not 0 <= node < len(node_names):
            raise ValueError(
                f"cell {name} takes node {node} of S; only 0..{len(node_names) - 1} "
                "precede it"
            )
    if cell.x == cell.y:
        raise ValueError(f"cell {name} takes node {cell.x} as both x and y")
    steps = cell.steps
    if not 1 <= node_multiplier <= len(steps):
        raise ValueError(
            f"node_multiplier {node_multiplier} is not in 1..{len(steps)} (cell {name})"
        )
    items: list[ast.CellItem] = [_step(i, step, name) for i, step in enumerate(steps)]
    last = range(len(steps) - node_multiplier, len(steps))
    items.append(ast.Out(tuple(_ref(f"s{i + 1}") for i in last)))
    return ast.Cell(
        name, _ref(node_names[cell.x]), _ref(node_names[cell.y]), tuple(items)
    )


def _step(i: int, step: StepChoice, cell: str) -> ast.Step:
    """Step i (0-based) as `s{i+1} = op(a, b)`; operands must precede it."""
    for operand in (step.a, step.b):
        if not 0 <= operand < i + 2:
            raise ValueError(
                f"step s{i + 1} of cell {cell} takes inner node {operand}; "
                f"only 0..{i + 1} precede it"
            )
    args = (_ref(_inner_name(step.a)), _ref(_inner_name(step.b)))
    return ast.Step(f"s{i + 1}", step.op, args)


def _header(
    *, C: int, L: int, classes: int, task: str, dropout: float
) -> dict[str, tuple[Any, ...]]:
    """The header statements of the model, as `ast.Model` keyword arguments."""
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, not {task!r}")
    rate = float(dropout)
    if not math.isfinite(rate):
        raise ValueError(f"dropout {dropout} is not a finite number")
    return {
        "dims": (ast.Dims((ast.DimEntry("C", C), ast.DimEntry("L", L))),),
        "classes": (ast.Classes(classes),),
        "task": (ast.Task(task),),
        "dropout": (ast.Dropout(rate, repr(rate)),),
    }


def genotype_to_ast(
    genotype: Genotype,
    *,
    model_name: str,
    features: Sequence[tuple[str, tuple[int, ...]]],
    C: int,
    L: int,
    classes: int,
    task: str,
    dropout: float,
    node_multiplier: int,
    meta: dict[str, MetaValue],
) -> ast.File:
    """The genotype as a `.bmg` AST; see `genotype_to_bmg` for the arguments."""
    _check_name(model_name, "model name")
    if not genotype.cells:
        raise ValueError("a genotype needs at least one cell")
    qualified = [name for name, _ in features]
    cell_names = [f"c{k + 1}" for k in range(len(genotype.cells))]
    cells = tuple(
        _cell(k, cell, qualified + cell_names[:k], node_multiplier)
        for k, cell in enumerate(genotype.cells)
    )
    entries = tuple(_meta_entry(key, value) for key, value in meta.items())
    model = ast.Model(
        name=model_name,
        **_header(C=C, L=L, classes=classes, task=task, dropout=dropout),
        meta=(ast.Meta(entries),) if entries else (),
        modalities=_modalities(features),
        cells=cells,
        outputs=(ast.Output(tuple(_ref(name) for name in cell_names)),),
    )
    return ast.File(version=ast.Version(1), models=(model,))


def genotype_to_bmg(
    genotype: Genotype,
    *,
    model_name: str,
    features: Sequence[tuple[str, tuple[int, ...]]],
    C: int,
    L: int,
    classes: int,
    task: str,
    dropout: float,
    node_multiplier: int,
    meta: dict[str, MetaValue],
) -> str:
    """The genotype as canonical `.bmg` text (the printer of `bmnas fmt`).

    `features` are the qualified `modality.feature` names with their shapes, in S order
    (all of them, used or not: the declaration fixes the node indices). Cells are named
    c1..cN, steps s1..sM; `out` lists the last `node_multiplier` steps and `output` every
    cell, as in the hypernet. `dropout` is always written (repr of the float) so that
    the evaluated network uses the search's rate; an empty `meta` writes no block.
    """
    return format_file(
        genotype_to_ast(
            genotype,
            model_name=model_name,
            features=features,
            C=C,
            L=L,
            classes=classes,
            task=task,
            dropout=dropout,
            node_multiplier=node_multiplier,
            meta=meta,
        )
    )
