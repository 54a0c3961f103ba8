"""How far the architecture weights have moved from uniform: per epoch, for alpha, beta
and gamma, the normalised entropy and top probability of their distributions.

Both figures are 1 for a uniform distribution. Normalised entropy H(p) / log(n) falls to
0 for a one-hot choice; the normalised top probability n * max(p) rises to n. Alpha and
beta are per-edge {identity, zero} softmaxes (n = 2); gamma is a softmax over the op pool
per step. A group's figure is the mean entropy and the largest top over its
distributions. Pure Python on plain numbers, so the rules are tested on hand-made
weights; the search logs them (`log.jsonl`, "convergence") and `bmnas viz` draws them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

GROUPS = ("alpha", "beta", "gamma")
# A search whose every group stays above this normalised entropy has not chosen
# anything: its genotype is decided by the initial noise (`bmnas search` says so).
NEAR_UNIFORM = 0.99


def normalised_entropy(p: Sequence[float]) -> float:
    """H(p) / log(n): 1 for uniform, 0 for one-hot (n = 1: 1 by convention)."""
    if len(p) < 2:
        return 1.0
    total = sum(p)
    h = -sum(q / total * math.log(q / total) for q in p if q > 0)
    return h / math.log(len(p))


def normalised_top(p: Sequence[float]) -> float:
    """n * max(p) / sum(p): 1 for uniform, n for one-hot."""
    return len(p) * max(p) / sum(p)


def binary(identity: Iterable[float]) -> list[tuple[float, float]]:
    """Per-edge {identity, zero} distributions from identity probabilities."""
    return [(p, 1.0 - p) for p in identity]


def summary(distributions: Sequence[Sequence[float]]) -> dict[str, float]:
    """Mean normalised entropy and largest normalised top of a group."""
    if not distributions:
        return {"entropy": 1.0, "top": 1.0}
    entropies = [normalised_entropy(p) for p in distributions]
    return {
        "entropy": sum(entropies) / len(entropies),
        "top": max(normalised_top(p) for p in distributions),
    }


def of_cells(
    alpha: Sequence[Sequence[float]],
    beta: Sequence[Sequence[Sequence[float]]],
    gamma: Sequence[Sequence[Sequence[float]]],
) -> dict[str, dict[str, float]]:
    """The three groups' figures from softmaxed weights as the log holds them: alpha as
    identity probabilities per cell, beta per cell and step, gamma per cell and step."""
    return {
        "alpha": summary([d for cell in alpha for d in binary(cell)]),
        "beta": summary([d for cell in beta for step in cell for d in binary(step)]),
        "gamma": summary([step for cell in gamma for step in cell]),
    }


def near_uniform(
    figures: dict[str, dict[str, float]], groups: Sequence[str] = GROUPS
) -> bool:
    return all(figures[g]["entropy"] > NEAR_UNIFORM for g in groups if g in figures)


def verdict(
    figures: dict[str, dict[str, float]], hint: str, groups: Sequence[str] = GROUPS
) -> str | None:
    """One line when the weights of `groups` stayed near uniform (None otherwise),
    saying by how much and what helps (`hint`). A sampling search passes beta and
    gamma only: its cells' inputs are chosen without alpha, which does not train."""
    if not near_uniform(figures, groups):
        return None
    parts = ", ".join(
        f"{g} entropy {figures[g]['entropy']:.3f}, top {figures[g]['top']:.2f}x"
        for g in groups
        if g in figures
    )
    return (
        f"note: the architecture weights stayed near uniform ({parts}; 1 = uniform): "
        f"the genotype is decided by little more than the initial noise; {hint}"
    )
