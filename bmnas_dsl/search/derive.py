"""Derivation of a discrete genotype from the architecture weights.

The search ends each epoch by turning the softmaxed architecture weights into one
discrete network (shared/spec/semantics.md, "Derivation of the genotype"). Every rule is
a small pure function on plain probability vectors so that each can be checked on
hand-made numbers; `derive_genotype` only assembles them; `bmnas_dsl.lang.printer` prints
the result with the same formatter as `bmnas fmt`, so the search writes canonical text.

Node indices. Cell inputs index S = [features f_0..f_{F-1} (S order), cells c_0..]; step
operands index a cell's inner sequence [x, y, s_1, ..., s_M].

Ties. Probabilities are compared exactly; among equal scores the earliest candidate wins
(the smaller index, or the first pair in lexicographic order). This is what the released
code's stable `sorted` does, and it makes a derivation reproducible across runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from bmnas_dsl.lang.printer import CellChoice, Genotype, StepChoice

# A probability vector: a 1-D torch tensor, a NumPy array or a sequence of floats.
Probs = Any
PairFilter = Callable[[int, int], bool]

CELL_INPUTS = ("any", "features")
MIXINGS = ("same", "separate")


# --------------------------------------------------------------------------------------
# Probability vectors


def _values(p: Probs, what: str) -> list[float]:
    """Plain floats of a 1-D probability vector; ValueError for anything else.

    Derivation compares products of probabilities, so a NaN, a negative number (a logit
    passed by mistake) or a nested vector would silently pick a wrong architecture.
    """
    tolist = getattr(p, "tolist", None)
    raw = tolist() if callable(tolist) else p
    if not isinstance(raw, Sequence) or isinstance(raw, str):
        raise ValueError(f"{what} must be a 1-D vector of probabilities")
    values = []
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{what} must be a 1-D vector of probabilities")
        number = float(value)
        if not (math.isfinite(number) and 0.0 <= number <= 1.0):
            raise ValueError(f"{what} holds {number}, which is not a probability")
        values.append(number)
    return values


def _argmax(values: Sequence[float], candidates: Sequence[int]) -> int:
    """The candidate with the largest value; the first one listed on ties."""
    best = candidates[0]
    for index in candidates[1:]:
        if values[index] > values[best]:
            best = index
    return best


# --------------------------------------------------------------------------------------
# Rules


def derive_cell_pair(p: Probs, allowed: PairFilter | None = None) -> tuple[int, int]:
    """The predecessor pair (i, j), i < j, maximising p[i] * p[j] (paper eq. 3).

    Returned as (x, y) with x the earlier node: the released code orders the pair so, and
    the cell's residual comes from x. Ties go to the first pair in lexicographic order.
    `allowed(i, j)` (called with i < j) restricts the candidates.
    """
    values = _values(p, "alpha")
    if len(values) < 2:
        raise ValueError(
            f"a cell needs two distinct inputs but has {len(values)} predecessor(s)"
        )
    best: tuple[int, int] | None = None
    best_score = -1.0
    for i in range(len(values)):
        for j in range(i + 1, len(values)):
            if allowed is not None and not allowed(i, j):
                continue
            score = values[i] * values[j]
            if score > best_score:
                best, best_score = (i, j), score
    if best is None:
        raise ValueError("no allowed predecessor pair for the cell")
    return best


def features_rule_max_cells(features: int) -> int:
    """How many cells the "features" rule can always place: F - 1.

    The first cell takes two fresh features and every later one at least one more, so
    after k cells at least k + 1 features are used; the rule never fails while there are
    at most F - 1 cells, and always fails beyond. A search can check this up front.
    """
    return max(features - 1, 0)


def features_rule_filter(features: int, used_features: set[int]) -> PairFilter:
    """The released code's "v3" pair filter for `--cell-inputs features`.

    Both nodes must be features, and at least one must be a feature that no earlier cell
    took, so that successive cells spread over the backbone features.
    """
    if features < 2:
        raise ValueError(f"rule 'features' needs at least two features, got {features}")
    if not set(range(features)) - used_features:
        raise ValueError(
            f"rule 'features' needs a feature that no earlier cell used, and all "
            f"{features} are used: it places at most "
            f"{features_rule_max_cells(features)} cells"
        )

    def allowed(i: int, j: int) -> bool:
        both_features = i < features and j < features
        return both_features and (i not in used_features or j not in used_features)

    return allowed


def derive_cell_pair_features_rule(
    p: Probs, used_features: set[int], features: int | None = None
) -> tuple[int, int]:
    """Rule 1 restricted by `features_rule_filter` (the released code's "v3" rule).

    `features` is how many leading entries of p are features (default: all of p). The
    released code keeps edges from earlier cells in its alpha but never picks them; a
    longer p is accepted for that reason, and its cell entries are ignored.
    """
    count = len(_values(p, "alpha")) if features is None else features
    return derive_cell_pair(p, features_rule_filter(count, used_features))


def derive_cell_pair_separate(
    p_x: Probs, p_y: Probs, allowed: PairFilter | None = None
) -> tuple[int, int]:
    """Separate x and y mixtures: x = argmax p_x, then y = argmax p_y over j != x.

    The semantics say "with separate mixing, the argmax of each", and the language needs
    a cell's x and y distinct (E005), so y is the argmax among the other nodes. x is
    chosen first because it is the stronger role (the residual comes from x). Here x is
    not necessarily the earlier node. Ties: the smaller index. `allowed(i, j)` (called
    with i < j) restricts the pairs; x is then the argmax over nodes with some allowed
    partner.
    """
    px, py = _values(p_x, "alpha_x"), _values(p_y, "alpha_y")
    if len(px) != len(py):
        raise ValueError(f"alpha_x has {len(px)} entries but alpha_y {len(py)}")
    if len(px) < 2:
        raise ValueError(
            f"a cell needs two distinct inputs but has {len(px)} predecessor(s)"
        )

    def ok(i: int, j: int) -> bool:
        return i != j and (allowed is None or allowed(min(i, j), max(i, j)))

    nodes = range(len(px))
    xs = [i for i in nodes if any(ok(i, j) for j in nodes)]
    if not xs:
        raise ValueError("no allowed predecessor pair for the cell")
    x = _argmax(px, xs)
    y = _argmax(py, [j for j in nodes if ok(x, j)])
    return x, y


def derive_step_operands(p: Probs) -> tuple[int, int]:
    """The two inner predecessors with the largest p, distinct, stronger first.

    Ties: the earlier node first (the released code's stable sort by -p).
    """
    values = _values(p, "beta")
    if len(values) < 2:
        raise ValueError(f"a step needs two predecessors, got {len(values)}")
    order = sorted(range(len(values)), key=lambda i: (-values[i], i))
    return order[0], order[1]


def derive_step_operands_separate(p_a: Probs, p_b: Probs) -> tuple[int, int]:
    """Separate operand mixtures: the argmax of each; ties: the smaller index.

    The two may be equal: a step may take the same operand twice (`Sum(s1, s1)`).
    """
    pa, pb = _values(p_a, "beta_a"), _values(p_b, "beta_b")
    if len(pa) != len(pb):
        raise ValueError(f"beta_a has {len(pa)} entries but beta_b {len(pb)}")
    if not pa:
        raise ValueError("a step needs at least one predecessor")
    nodes = range(len(pa))
    return _argmax(pa, nodes), _argmax(pb, nodes)


def derive_op(gamma: Probs, ops: Sequence[str]) -> str:
    """argmax gamma over the op pool (paper eq. 11), Zero included; ties: pool order."""
    values = _values(gamma, "gamma")
    if len(values) != len(ops) or not ops:
        raise ValueError(
            f"gamma has {len(values)} entries for an op pool of {len(ops)}"
        )
    return ops[_argmax(values, range(len(values)))]


# --------------------------------------------------------------------------------------
# Assembly


class CellProbsLike(Protocol):
    """What derivation reads of one cell (`CellProbs`, or the hypernet's CellWeights)."""

    @property
    def alpha_x(self) -> Probs: ...
    @property
    def alpha_y(self) -> Probs | None: ...
    @property
    def beta_a(self) -> Sequence[Probs]: ...
    @property
    def beta_b(self) -> Sequence[Probs] | None: ...
    @property
    def gamma(self) -> Sequence[Probs]: ...


@dataclass(frozen=True, eq=False)
class CellProbs:
    """The softmaxed architecture weights of one cell, one vector per edge group.

    With "same" mixing only alpha_x (the alpha) and beta_a (the betas, one per step) are
    read; alpha_y and beta_b are for "separate" mixing. The field names match the
    hypernet's CellWeights so that either can be passed to `derive_genotype`.
    """

    alpha_x: Probs
    beta_a: Sequence[Probs]
    gamma: Sequence[Probs]
    alpha_y: Probs | None = None
    beta_b: Sequence[Probs] | None = None

    @classmethod
    def same(
        cls, alpha: Probs, beta: Sequence[Probs], gamma: Sequence[Probs]
    ) -> CellProbs:
        """One mixture feeds both x and y (of the cell, and of each step)."""
        return cls(alpha_x=alpha, beta_a=beta, gamma=gamma)

    @classmethod
    def separate(
        cls,
        alpha_x: Probs,
        alpha_y: Probs,
        beta_a: Sequence[Probs],
        beta_b: Sequence[Probs],
        gamma: Sequence[Probs],
    ) -> CellProbs:
        """Separate mixtures for x and y, and for each step's two operands."""
        return cls(alpha_x, beta_a, gamma, alpha_y, beta_b)


def _check_lengths(
    probs: CellProbsLike, k: int, n_pred: int, ops: Sequence[str], mixing: str
) -> None:
    """Catch a hypernet / derivation mismatch here rather than as a wrong network."""
    steps = len(probs.gamma)
    if steps < 1:
        raise ValueError(f"cell {k} has no step")
    alphas = [probs.alpha_x] + ([probs.alpha_y] if mixing == "separate" else [])
    betas = [probs.beta_a] + ([probs.beta_b] if mixing == "separate" else [])
    for alpha in alphas:
        if alpha is None or len(_values(alpha, "alpha")) != n_pred:
            raise ValueError(f"cell {k} needs an alpha of {n_pred} entries")
    for beta in betas:
        if beta is None or len(beta) != steps:
            raise ValueError(f"cell {k} needs one beta per step ({steps})")
        for i, vector in enumerate(beta):
            if len(_values(vector, "beta")) != i + 2:
                raise ValueError(f"cell {k} step {i} needs a beta of {i + 2} entries")
    for gamma in probs.gamma:
        if len(_values(gamma, "gamma")) != len(ops):
            raise ValueError(f"cell {k} needs gammas of {len(ops)} entries")


def _derive_inputs(
    probs: CellProbsLike,
    features: int,
    cell_inputs: str,
    mixing: str,
    used_features: set[int],
) -> tuple[int, int]:
    allowed = (
        features_rule_filter(features, used_features)
        if cell_inputs == "features"
        else None
    )
    if mixing == "separate":
        return derive_cell_pair_separate(probs.alpha_x, probs.alpha_y, allowed)
    return derive_cell_pair(probs.alpha_x, allowed)


def _derive_step(
    probs: CellProbsLike, i: int, ops: Sequence[str], mixing: str
) -> StepChoice:
    if mixing == "separate":
        assert probs.beta_b is not None  # checked by _check_lengths
        a, b = derive_step_operands_separate(probs.beta_a[i], probs.beta_b[i])
    else:
        a, b = derive_step_operands(probs.beta_a[i])
    return StepChoice(op=derive_op(probs.gamma[i], ops), a=a, b=b)


def derive_genotype(
    cell_probs: Sequence[CellProbsLike],
    features: int,
    ops: Sequence[str],
    cell_inputs: str = "any",
    mixing: str = "same",
) -> Genotype:
    """The genotype of the current architecture weights (one `CellProbs` per cell).

    Cell k's alpha covers S[0 : F + k] with cell_inputs "any", S[0 : F] with "features";
    step i's beta covers the inner nodes [0 : i + 2]; gamma covers `ops`. With
    "features" the v3 rule applies, tracking which features earlier cells took.
    """
    if cell_inputs not in CELL_INPUTS:
        raise ValueError(
            f"cell_inputs must be one of {CELL_INPUTS}, not {cell_inputs!r}"
        )
    if mixing not in MIXINGS:
        raise ValueError(f"mixing must be one of {MIXINGS}, not {mixing!r}")
    if not cell_probs:
        raise ValueError("a genotype needs at least one cell")
    most = features_rule_max_cells(features)
    if cell_inputs == "features" and len(cell_probs) > most:
        raise ValueError(
            f"cell_inputs 'features' places at most {most} cells with {features} "
            f"features, not {len(cell_probs)}"
        )
    used_features: set[int] = set()
    cells = []
    for k, probs in enumerate(cell_probs):
        n_pred = features if cell_inputs == "features" else features + k
        _check_lengths(probs, k, n_pred, ops, mixing)
        x, y = _derive_inputs(probs, features, cell_inputs, mixing, used_features)
        used_features |= {x, y}
        steps = tuple(
            _derive_step(probs, i, ops, mixing) for i in range(len(probs.gamma))
        )
        cells.append(CellChoice(x=x, y=y, steps=steps))
    return Genotype(cells=tuple(cells))
