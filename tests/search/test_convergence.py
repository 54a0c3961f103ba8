"""The convergence figures of the architecture weights (bmnas_dsl.search.convergence) on
hand-made weights."""

from __future__ import annotations

import math

import pytest

from bmnas_dsl.search import convergence


def test_uniform_is_one_and_one_hot_is_the_extreme():
    assert convergence.normalised_entropy([0.25] * 4) == pytest.approx(1.0)
    assert convergence.normalised_top([0.25] * 4) == pytest.approx(1.0)
    assert convergence.normalised_entropy([1.0, 0.0, 0.0]) == pytest.approx(0.0)
    assert convergence.normalised_top([1.0, 0.0, 0.0]) == pytest.approx(3.0)


def test_a_known_distribution():
    p = [0.5, 0.25, 0.25]
    h = -(0.5 * math.log(0.5) + 2 * 0.25 * math.log(0.25))
    assert convergence.normalised_entropy(p) == pytest.approx(h / math.log(3))
    assert convergence.normalised_top(p) == pytest.approx(1.5)


def test_identity_probabilities_are_two_way_edges():
    # alpha 0.5 everywhere: uniform; one edge at 0.9 raises the top to 1.8x.
    figures = convergence.of_cells(
        alpha=[[0.5, 0.5], [0.5, 0.9, 0.5]],
        beta=[[[0.5, 0.5]], [[0.5, 0.5]]],
        gamma=[[[0.2] * 5], [[0.6, 0.1, 0.1, 0.1, 0.1]]],
    )
    assert figures["beta"] == {"entropy": pytest.approx(1.0), "top": pytest.approx(1.0)}
    assert figures["alpha"]["top"] == pytest.approx(1.8)
    edge = convergence.normalised_entropy([0.9, 0.1])
    assert figures["alpha"]["entropy"] == pytest.approx((4 + edge) / 5)
    assert figures["gamma"]["top"] == pytest.approx(3.0)


def test_the_verdict_speaks_only_for_near_uniform_weights():
    still = {g: {"entropy": 0.995, "top": 1.1} for g in convergence.GROUPS}
    line = convergence.verdict(still, "raise --arch-lr")
    assert line is not None and "\n" not in line
    assert "alpha entropy 0.995, top 1.10x" in line and "raise --arch-lr" in line
    moved = {**still, "gamma": {"entropy": 0.6, "top": 3.0}}
    assert convergence.verdict(moved, "raise --arch-lr") is None


def test_a_sampling_search_is_judged_on_beta_and_gamma_only():
    # alpha never trains when the inputs are sampled: it must not raise the note.
    figures = {
        "alpha": {"entropy": 1.0, "top": 1.0},
        "beta": {"entropy": 0.7, "top": 1.6},
        "gamma": {"entropy": 0.8, "top": 2.5},
    }
    assert convergence.verdict(figures, "hint") is None  # beta, gamma moved
    assert convergence.verdict(figures, "hint", ("beta", "gamma")) is None
    still = {**figures, "gamma": {"entropy": 0.999, "top": 1.01}}
    still["beta"] = {"entropy": 0.995, "top": 1.05}
    line = convergence.verdict(still, "hint", ("beta", "gamma"))
    assert line is not None and "alpha" not in line
