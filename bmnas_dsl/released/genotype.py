"""The released genotype: local stand-ins for its two namedtuples, its op names, and the
checks that make one a network bmnas builds as the released code does.

The released code (`models/search/darts/genotypes.py`) defines

    Genotype = namedtuple('Genotype', 'edges steps concat')
    StepGenotype = namedtuple('StepGenotype', 'inner_edges inner_steps inner_concat')

Cell k (0-based) reads `edges[2k]` as x and `edges[2k + 1]` as y, each an (op, index)
pair whose index counts S = [features 0..F-1, cells F, F+1, ...]. Its StepGenotype has
two (op, index) pairs per step, indexing [x = 0, y = 1, step 1 = 2, ...], one op name
per step, and the steps concatenated as the cell's output. The released network
concatenates the *last* len(inner_concat) steps and the last len(concat) cells, whatever
those lists name, so only lists that name exactly those are accepted: anything else
would import as a network the released code never built.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable
from dataclasses import dataclass

from bmnas_dsl.errors import ReleasedGenotypeError
from bmnas_dsl.lang.printer import CellChoice, StepChoice

# Where the released namedtuples live: the module a released pickle names.
RELEASED_MODULE = "models.search.darts.genotypes"

# Stand-ins with the released field names: a pickle or a printed form becomes these,
# never the released classes (whose module is not imported, nor importable here).
Genotype = namedtuple("Genotype", "edges steps concat")
StepGenotype = namedtuple("StepGenotype", "inner_edges inner_steps inner_concat")
NAMEDTUPLES: dict[str, type] = {"Genotype": Genotype, "StepGenotype": StepGenotype}

# Step ops: the released names, then the older spellings of the same four, mapped to
# the bmnas registry (bmnas_dsl/ir/ops.py). Their layers are the same (semantics.md).
STEP_OPS: dict[str, str] = {
    "Sum": "Sum",
    "ScaleDotAttn": "Attention",
    "LinearGLU": "LinearGLU",
    "ConcatFC": "ConcatFC",
    "sum": "Sum",
    "scale_dot_attn": "Attention",
    "cat_conv_glu": "LinearGLU",
    "cat_conv_relu": "ConcatFC",
}
_KNOWN_STEP_OPS = (
    "Sum, ScaleDotAttn, LinearGLU, ConcatFC (older: sum, scale_dot_attn, "
    "cat_conv_glu, cat_conv_relu)"
)
# Edge ops: Identity and Zero. The released derivation never picks 'none' (it is
# excluded from the argmax), and bmnas cells and steps have no zero input.
IDENTITY, ZERO = "skip", "none"

# The longest range() read (older genotypes write `concat=range(8, 10)`): far more cells
# than any search has, and a planted `range(10**12)` is refused before it is built.
MAX_RANGE = 10_000

# A position inside a genotype: field names and list indices, ("steps", 1,
# "inner_edges", 2) for steps[1].inner_edges[2]. `Where` turns one into the start of an
# error message ("log.txt:3:57: steps[1].inner_edges[2]").
Path = tuple[str | int, ...]
Where = Callable[[Path], str]


def bounded_range(bounds: list[int] | tuple[int, ...]) -> list[int]:
    """list(range(*bounds)), or ValueError when that is more than MAX_RANGE values (or
    the step is 0)."""
    values = range(*bounds)
    try:
        size = len(values)
    except OverflowError:  # more values than an index can count
        size = MAX_RANGE + 1
    if size > MAX_RANGE:
        raise ValueError(f"a range of more than {MAX_RANGE} values")
    return list(values)


def path_text(path: Path) -> str:
    """`steps[1].inner_edges[2]`, or `the genotype` for the empty path."""
    if not path:
        return "the genotype"
    text = str(path[0])
    for part in path[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


@dataclass(frozen=True)
class Structure:
    """A released genotype that passed the checks, ready for the printer."""

    genotype: Genotype  # normalised: lists of tuples, as the released code prints it
    cells: tuple[CellChoice, ...]  # bmnas op names; x and y index S
    steps: int  # steps per cell (the released --node_steps)
    node_multiplier: int  # len(inner_concat) (the search's --node_multiplier)
    output: int  # len(concat): the last `output` cells feed the head (--multiplier)

    @property
    def printed(self) -> str:
        """The released printed form, as the released code logs it."""
        return repr(self.genotype)


def check_structure(genotype: object, feature_count: int, where: Where) -> Structure:
    """The genotype as bmnas cells, or ReleasedGenotypeError at the first problem:
    a value of the wrong type, a wrong number of edges, an unknown op, an index out of
    range or pointing forward, a `concat` or `inner_concat` that is not the last cells
    or steps, cells with different step counts."""
    checker = _Checker(where)
    if not isinstance(genotype, Genotype):
        raise checker.problem((), f"is {_kind(genotype)}, not a Genotype")
    edges = checker.pairs(genotype.edges, ("edges",))
    steps = checker.sequence(genotype.steps, ("steps",), "a list of StepGenotype")
    if not edges or len(edges) % 2:
        raise checker.problem(
            ("edges",),
            f"has {len(edges)} (op, index) pair(s); the released format has two per "
            "cell",
        )
    count = len(edges) // 2
    if len(steps) != count:
        raise checker.problem(
            ("steps",),
            f"has {len(steps)} StepGenotype(s) for the {count} cell(s) of edges "
            "(two pairs per cell)",
        )
    cells, normal_steps, out_counts = [], [], []
    for k in range(count):
        x, y = checker.cell_inputs(edges, k, feature_count)
        choices, normal, out_count = checker.cell_steps(steps[k], ("steps", k))
        cells.append(CellChoice(x, y, choices))
        normal_steps.append(normal)
        out_counts.append(out_count)
        # One --node_steps and one --node_multiplier serve every released cell.
        if len(choices) != len(cells[0].steps):
            raise checker.problem(
                ("steps", k, "inner_steps"),
                f"cell {k + 1} has {len(choices)} step(s) but cell 1 has "
                f"{len(cells[0].steps)}; the released network has one --node_steps "
                "for every cell",
            )
        if out_count != out_counts[0]:
            raise checker.problem(
                ("steps", k, "inner_concat"),
                f"cell {k + 1} concatenates {out_count} step(s) but cell 1 "
                f"{out_counts[0]}; the released network has one --node_multiplier for "
                "every cell",
            )
    output = checker.tail(
        genotype.concat,
        ("concat",),
        first=feature_count,
        stop=feature_count + count,
        kind="cell",
        name_of=lambda v: f"feature {v}" if 0 <= v < feature_count else "",
    )
    normal = Genotype(
        edges=[tuple(pair) for pair in edges],
        steps=normal_steps,
        concat=list(range(feature_count + count - output, feature_count + count)),
    )
    return Structure(normal, tuple(cells), len(cells[0].steps), out_counts[0], output)


class _Checker:
    """The checks, each raising ReleasedGenotypeError located by `where`."""

    def __init__(self, where: Where) -> None:
        self.where = where

    def problem(self, path: Path, message: str) -> ReleasedGenotypeError:
        return ReleasedGenotypeError(f"{self.where(path)}: {message}")

    # -- values of the right type ------------------------------------------------------

    def sequence(self, value: object, path: Path, what: str) -> list[object]:
        if not isinstance(value, list | tuple):
            raise self.problem(path, f"is {_kind(value)}, not {what}")
        return list(value)

    def pairs(self, value: object, path: Path) -> list[tuple[str, int]]:
        pairs = []
        for i, item in enumerate(
            self.sequence(value, path, "a list of (op, index) pairs")
        ):
            if (
                not isinstance(item, list | tuple)
                or len(item) != 2
                or not isinstance(item[0], str)
                or type(item[1]) is not int
            ):
                raise self.problem(
                    (*path, i), f"is {_kind(item)}, not an (op, index) pair"
                )
            pairs.append((item[0], item[1]))
        return pairs

    def typed(self, value: object, path: Path, kind: type, what: str) -> list:
        """A list of `kind` items (exactly: True is not an int here); `what` names the
        items (`op name`)."""
        items = self.sequence(value, path, f"a list of {what}s")
        for i, item in enumerate(items):
            if type(item) is not kind:
                raise self.problem((*path, i), f"is {_kind(item)}, not an {what}")
        return items

    # -- the structure ---------------------------------------------------------------

    def cell_inputs(
        self, edges: list[tuple[str, int]], k: int, features: int
    ) -> tuple[int, int]:
        """Cell k's x and y: two distinct earlier nodes of S, through 'skip' edges."""
        inputs = []
        for j in (2 * k, 2 * k + 1):
            op, index = edges[j]
            self.edge_op(op, ("edges", j, 0), "input", "cell")
            if not 0 <= index < features + k:
                raise self.problem(
                    ("edges", j, 1),
                    f"index {index} is out of range: cell {k + 1} reads nodes "
                    f"0..{features + k - 1} ({_outer_nodes(features, k)})",
                )
            inputs.append(index)
        x, y = inputs
        if x == y:
            raise self.problem(
                ("edges", 2 * k + 1, 1),
                f"cell {k + 1} reads node {x} as both x and y; a cell needs two "
                "distinct inputs",
            )
        return x, y

    def edge_op(self, op: str, path: Path, what: str, owner: str) -> None:
        if op == ZERO:
            raise self.problem(
                path,
                f"is {ZERO!r}, a zero {what}: the released derivation never picks it "
                f"and a bmnas {owner} cannot take one",
            )
        if op != IDENTITY:
            raise self.problem(
                path,
                f"unknown edge op {op!r}; the released edge ops are "
                f"{IDENTITY!r} and {ZERO!r}",
            )

    def cell_steps(
        self, step: object, path: Path
    ) -> tuple[tuple[StepChoice, ...], StepGenotype, int]:
        """The cell's steps, its normalised StepGenotype and len(inner_concat)."""
        if not isinstance(step, StepGenotype):
            raise self.problem(path, f"is {_kind(step)}, not a StepGenotype")
        ops = self.typed(step.inner_steps, (*path, "inner_steps"), str, "op name")
        if not ops:
            raise self.problem(
                (*path, "inner_steps"), "is empty; a cell needs at least one step"
            )
        pairs = self.pairs(step.inner_edges, (*path, "inner_edges"))
        if len(pairs) != 2 * len(ops):
            raise self.problem(
                (*path, "inner_edges"),
                f"has {len(pairs)} (op, index) pair(s) for {len(ops)} step(s); the "
                "released format has two per step",
            )
        last = len(ops) + 1  # the inner nodes are 0..last
        choices = []
        for i, name in enumerate(ops):
            if name not in STEP_OPS:
                raise self.problem(
                    (*path, "inner_steps", i),
                    f"unknown step op {name!r}; the released ops are {_KNOWN_STEP_OPS}",
                )
            operands = []
            for j in (2 * i, 2 * i + 1):
                op, index = pairs[j]
                self.edge_op(op, (*path, "inner_edges", j, 0), "operand", "step")
                where = (*path, "inner_edges", j, 1)
                if not 0 <= index <= last:
                    raise self.problem(
                        where,
                        f"inner index {index} is out of range: the inner nodes are "
                        f"0..{last} (x = 0, y = 1, steps 2..{last})",
                    )
                if index > i + 1:
                    raise self.problem(
                        where,
                        f"inner index {index} of step {i + 1} points forward: step "
                        f"{i + 1} reads inner nodes 0..{i + 1} ({_inner_nodes(i)})",
                    )
                operands.append(index)
            choices.append(StepChoice(STEP_OPS[name], operands[0], operands[1]))
        out_count = self.tail(
            step.inner_concat,
            (*path, "inner_concat"),
            first=2,
            stop=last + 1,
            kind="step",
            name_of=lambda v: {0: "x", 1: "y"}.get(v, ""),
        )
        normal = StepGenotype(
            inner_edges=pairs,
            inner_steps=ops,
            inner_concat=list(range(last + 1 - out_count, last + 1)),
        )
        return tuple(choices), normal, out_count

    def tail(
        self,
        value: object,
        path: Path,
        *,
        first: int,
        stop: int,
        kind: str,
        name_of: Callable[[int], str],
    ) -> int:
        """len(value), when value lists the last nodes of [first, stop) in order."""
        values = self.typed(value, path, int, "index")
        span = f"{kind}s are {first}..{stop - 1}"
        if not values:
            raise self.problem(
                path, f"is empty; it must name the last {kind}(s) ({span})"
            )
        for i, node in enumerate(values):
            if not first <= node < stop:
                name = name_of(node)
                what = f"which is {name}" if name else "out of range"
                raise self.problem(
                    (*path, i), f"names node {node}, {what}, not a {kind} ({span})"
                )
        expected = list(range(stop - len(values), stop))
        if values != expected:
            raise self.problem(
                path,
                f"is {values}, not the last {len(values)} {kind}(s) {expected}: the "
                f"released network concatenates the last len({path[-1]}) {kind}s "
                "whatever the list names",
            )
        return len(values)


def _outer_nodes(features: int, k: int) -> str:
    """What S holds before cell k: `features 0..7, cells 8..9`."""
    text = f"features 0..{features - 1}"
    if k == 1:
        text += f", cell 1 = {features}"
    elif k > 1:
        text += f", cells 1..{k} = {features}..{features + k - 1}"
    return text


def _inner_nodes(i: int) -> str:
    """What step i + 1 may read: `x = 0, y = 1, step 1 = 2`."""
    text = "x = 0, y = 1"
    if i == 1:
        text += ", step 1 = 2"
    elif i > 1:
        text += f", steps 1..{i} = 2..{i + 1}"
    return text


def _kind(value: object) -> str:
    """A short description of a value, safe for any size (no full repr of containers,
    no str() of a huge integer)."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return f"the integer {value}" if value.bit_length() < 64 else "a huge integer"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, list | tuple) and not isinstance(
        value, Genotype | StepGenotype
    ):
        return f"a {type(value).__name__} of {len(value)} item(s)"
    return f"a {type(value).__name__}"
