"""Genotype derivation (bmnas_dsl.search.derive) on hand-made probability vectors."""

from __future__ import annotations

import pytest
import torch

from bmnas_dsl.lang.formatter import format_file
from bmnas_dsl.lang.parser import parse
from bmnas_dsl.lang.printer import CellChoice, Genotype, StepChoice, genotype_to_bmg
from bmnas_dsl.passes.pipeline import analyse_text
from bmnas_dsl.search.derive import (
    CellProbs,
    derive_cell_pair,
    derive_cell_pair_features_rule,
    derive_cell_pair_separate,
    derive_genotype,
    derive_op,
    derive_step_operands,
    derive_step_operands_separate,
    features_rule_filter,
    features_rule_max_cells,
)

PAPER_OPS = ["Zero", "Sum", "Attention", "LinearGLU", "ConcatFC"]
FEATURES = [("a.f1", (16, 5)), ("a.f2", (32,)), ("b.g1", (12, 3, 3))]


def t(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


def one_hot(size: int, index: int, high: float = 0.9, low: float = 0.1) -> torch.Tensor:
    return torch.tensor([high if i == index else low for i in range(size)])


# --------------------------------------------------------------------------------------
# Rule 1: cell pair, same mixing


def test_cell_pair_clear_winner_is_ordered_earlier_first() -> None:
    assert derive_cell_pair(t(0.2, 0.9, 0.1, 0.8)) == (1, 3)


def test_cell_pair_tie_for_the_second_node_goes_to_the_earlier() -> None:
    # (0, 1) and (0, 2) tie at 0.9 * 0.6; plain lists are accepted as well as tensors.
    assert derive_cell_pair(t(0.9, 0.6, 0.6, 0.1)) == (0, 1)
    assert derive_cell_pair([0.05, 0.6, 0.95, 0.6]) == (1, 2)


def test_cell_pair_tie_goes_to_first_lexicographic_pair() -> None:
    assert derive_cell_pair(t(0.5, 0.5, 0.5)) == (0, 1)
    # (1, 3), (1, 4) and (3, 4) tie at 0.9 * 0.9; (1, 3) comes first.
    assert derive_cell_pair(t(0.2, 0.9, 0.5, 0.9, 0.9)) == (1, 3)


def test_cell_pair_tie_under_a_filter_between_disjoint_pairs() -> None:
    # Without (0, 1), the pairs (0, 2), (0, 3), (1, 2), (1, 3) all tie at 0.25.
    p = [1.0, 1.0, 0.25, 0.25]
    assert derive_cell_pair(p, allowed=lambda i, j: (i, j) != (0, 1)) == (0, 2)
    only_disjoint = {(1, 2), (0, 3)}
    assert derive_cell_pair(p, allowed=lambda i, j: (i, j) in only_disjoint) == (0, 3)


def test_cell_pair_allowed_filter_and_errors() -> None:
    assert derive_cell_pair(t(0.9, 0.8, 0.1), allowed=lambda i, j: j == 2) == (0, 2)
    with pytest.raises(ValueError, match="two distinct inputs"):
        derive_cell_pair(t(0.9))
    with pytest.raises(ValueError, match="no allowed"):
        derive_cell_pair(t(0.9, 0.8), allowed=lambda i, j: False)


def test_probabilities_are_checked() -> None:
    with pytest.raises(ValueError, match="not a probability"):
        derive_cell_pair(t(0.5, float("nan")))
    with pytest.raises(ValueError, match="not a probability"):
        derive_cell_pair([0.5, -1.0])
    with pytest.raises(ValueError, match="1-D"):
        derive_cell_pair(torch.ones(2, 2) / 2)


# --------------------------------------------------------------------------------------
# Rule 2: the released code's "v3" features rule


def test_features_rule_skips_a_pair_of_used_features() -> None:
    p = t(0.9, 0.9, 0.5, 0.1)
    assert derive_cell_pair(p) == (0, 1)
    # Features 0 and 1 are taken: the best pair with an unused feature is (0, 2).
    assert derive_cell_pair_features_rule(p, used_features={0, 1}) == (0, 2)


def test_features_rule_allows_one_used_feature() -> None:
    assert derive_cell_pair_features_rule(t(0.9, 0.2, 0.8), {0}) == (0, 2)


def test_features_rule_never_picks_cells() -> None:
    # Entries 3 and 4 are earlier cells (the released code keeps their edges in alpha).
    p = t(0.3, 0.2, 0.1, 0.99, 0.98)
    assert derive_cell_pair(p) == (3, 4)
    assert derive_cell_pair_features_rule(p, set(), features=3) == (0, 1)


def test_features_rule_tie_break_and_exhaustion() -> None:
    assert derive_cell_pair_features_rule(t(0.5, 0.5, 0.5), {0}) == (0, 1)
    with pytest.raises(ValueError, match="no earlier cell used"):
        derive_cell_pair_features_rule(t(0.5, 0.5), {0, 1})
    with pytest.raises(ValueError, match="at least two features"):
        derive_cell_pair_features_rule(t(0.5, 0.5), set(), features=1)


# --------------------------------------------------------------------------------------
# Rule 3: cell pair, separate mixing


def test_separate_cell_pair_takes_argmax_of_each() -> None:
    assert derive_cell_pair_separate(t(0.1, 0.2, 0.9), t(0.8, 0.3, 0.1)) == (2, 0)


def test_separate_cell_pair_y_avoids_x() -> None:
    # Both prefer node 1; y takes the best other node.
    assert derive_cell_pair_separate(t(0.1, 0.9, 0.2), t(0.1, 0.9, 0.3)) == (1, 2)


def test_separate_cell_pair_ties_go_to_smaller_index() -> None:
    assert derive_cell_pair_separate(t(0.5, 0.5, 0.5), t(0.5, 0.5, 0.5)) == (0, 1)
    assert derive_cell_pair_separate(t(0.2, 0.7, 0.7), t(0.4, 0.4, 0.4)) == (1, 0)


def test_separate_cell_pair_with_features_filter() -> None:
    allowed = features_rule_filter(3, {0, 1})
    # x = 0 is allowed (it can pair with unused 2); y must then be the unused feature 2.
    p_x, p_y = t(0.9, 0.5, 0.1), t(0.1, 0.9, 0.2)
    assert derive_cell_pair_separate(p_x, p_y, allowed) == (0, 2)


# --------------------------------------------------------------------------------------
# Rules 4 and 5: step operands


def test_step_operands_stronger_first() -> None:
    assert derive_step_operands(t(0.3, 0.7)) == (1, 0)
    assert derive_step_operands(t(0.1, 0.6, 0.2, 0.9)) == (3, 1)


def test_step_operands_ties_earlier_first() -> None:
    assert derive_step_operands(t(0.5, 0.5)) == (0, 1)
    assert derive_step_operands(t(0.1, 0.4, 0.9, 0.4)) == (2, 1)


def test_step_operands_need_two() -> None:
    with pytest.raises(ValueError):
        derive_step_operands(t(0.5))


def test_separate_step_operands_may_repeat() -> None:
    assert derive_step_operands_separate(t(0.1, 0.2, 0.9), t(0.1, 0.3, 0.8)) == (2, 2)
    assert derive_step_operands_separate(t(0.9, 0.2), t(0.1, 0.8)) == (0, 1)


def test_separate_step_operands_ties_smaller_index() -> None:
    assert derive_step_operands_separate(t(0.4, 0.4, 0.1), t(0.2, 0.6, 0.6)) == (0, 1)


# --------------------------------------------------------------------------------------
# Rule 6: op


def test_op_argmax_with_zero_winning() -> None:
    assert derive_op(t(0.6, 0.1, 0.1, 0.1, 0.1), PAPER_OPS) == "Zero"
    assert derive_op(t(0.1, 0.1, 0.1, 0.6, 0.1), PAPER_OPS) == "LinearGLU"


def test_op_ties_first_in_pool_order() -> None:
    assert derive_op(t(0.1, 0.3, 0.3, 0.2, 0.1), PAPER_OPS) == "Sum"
    released = ["Sum", "Attention", "LinearGLU", "ConcatFC"]
    assert derive_op(t(0.25, 0.25, 0.25, 0.25), released) == "Sum"


def test_op_pool_size_must_match() -> None:
    with pytest.raises(ValueError, match="op pool"):
        derive_op(t(0.5, 0.5), PAPER_OPS)


# --------------------------------------------------------------------------------------
# Rule 7: the whole genotype


def _same_cell(alpha: torch.Tensor, *steps: tuple[torch.Tensor, str]) -> CellProbs:
    betas = [beta for beta, _ in steps]
    gammas = [one_hot(len(PAPER_OPS), PAPER_OPS.index(op)) for _, op in steps]
    return CellProbs.same(alpha, betas, gammas)


def test_genotype_any_lets_cells_pick_earlier_cells() -> None:
    cells = [
        _same_cell(t(0.9, 0.2, 0.8), (t(0.3, 0.7), "Sum")),
        # Node 3 is cell c1: (0, 3) wins with 0.9 * 0.95.
        _same_cell(t(0.9, 0.2, 0.1, 0.95), (t(0.8, 0.2), "Attention")),
        # Nodes 3 and 4 are the two earlier cells.
        _same_cell(t(0.1, 0.1, 0.1, 0.7, 0.9), (t(0.2, 0.9), "ConcatFC")),
    ]
    genotype = derive_genotype(cells, features=3, ops=PAPER_OPS)
    assert genotype == Genotype(
        (
            CellChoice(0, 2, (StepChoice("Sum", 1, 0),)),
            CellChoice(0, 3, (StepChoice("Attention", 0, 1),)),
            CellChoice(3, 4, (StepChoice("ConcatFC", 1, 0),)),
        )
    )


def test_genotype_features_rule_tracks_used_features() -> None:
    alpha = t(0.9, 0.9, 0.5, 0.1)
    cells = [
        _same_cell(alpha, (t(0.9, 0.1), "Sum")),
        _same_cell(alpha, (t(0.9, 0.1), "Sum")),
        _same_cell(alpha, (t(0.9, 0.1), "Sum")),
    ]
    genotype = derive_genotype(cells, 4, PAPER_OPS, cell_inputs="features")
    assert [(c.x, c.y) for c in genotype.cells] == [(0, 1), (0, 2), (0, 3)]


def test_genotype_features_rule_places_at_most_f_minus_one_cells() -> None:
    assert features_rule_max_cells(3) == 2
    cell = _same_cell(t(0.9, 0.9, 0.5), (t(0.9, 0.1), "Sum"))
    with pytest.raises(ValueError, match="at most 2 cells"):
        derive_genotype([cell] * 3, 3, PAPER_OPS, cell_inputs="features")


def test_genotype_separate_mixing_with_features_rule() -> None:
    def cell(alpha_x: torch.Tensor, alpha_y: torch.Tensor) -> CellProbs:
        beta = [t(0.9, 0.1)]
        return CellProbs.separate(alpha_x, alpha_y, beta, beta, [one_hot(5, 1)])

    cells = [
        cell(t(0.9, 0.1, 0.1), t(0.1, 0.1, 0.9)),
        cell(t(0.9, 0.1, 0.1), t(0.1, 0.1, 0.9)),
    ]
    genotype = derive_genotype(
        cells, 3, PAPER_OPS, cell_inputs="features", mixing="separate"
    )
    # c2 would repeat (0, 2); its y must be the unused feature 1.
    assert [(c.x, c.y) for c in genotype.cells] == [(0, 2), (0, 1)]


def test_genotype_separate_mixing() -> None:
    cell = CellProbs.separate(
        alpha_x=t(0.1, 0.9),
        alpha_y=t(0.8, 0.9),
        beta_a=[t(0.2, 0.9), t(0.1, 0.2, 0.9)],
        beta_b=[t(0.2, 0.9), t(0.9, 0.2, 0.1)],
        gamma=[one_hot(5, 1), one_hot(5, 0)],
    )
    genotype = derive_genotype([cell], 2, PAPER_OPS, mixing="separate")
    assert genotype == Genotype(
        (CellChoice(1, 0, (StepChoice("Sum", 1, 1), StepChoice("Zero", 2, 0))),)
    )


def test_genotype_checks_vector_lengths() -> None:
    cell = _same_cell(t(0.9, 0.2), (t(0.3, 0.7), "Sum"))
    with pytest.raises(ValueError, match="alpha of 3 entries"):
        derive_genotype([cell], features=3, ops=PAPER_OPS)
    bad_beta = _same_cell(t(0.9, 0.2), (t(0.3, 0.7, 0.1), "Sum"))
    with pytest.raises(ValueError, match="beta of 2 entries"):
        derive_genotype([bad_beta], features=2, ops=PAPER_OPS)
    with pytest.raises(ValueError, match="mixing"):
        derive_genotype([cell], features=2, ops=PAPER_OPS, mixing="both")


# --------------------------------------------------------------------------------------
# Rule 8: .bmg text

EXPECTED = """\
bmg 1

model found {
    dims C = 8, L = 4
    classes 3
    task multilabel
    dropout 0.2

    meta {
        dataset = "toy \\"set\\" \\\\ v1"
        seed = 7
        val_f1 = 0.625
        second_order = false
    }

    modality a {
        f1 : [16, 5]
        f2 : [32]
    }

    modality b {
        g1 : [12, 3, 3]
    }

    cell c1 (x = a.f1, y = b.g1) {
        s1 = LinearGLU(y, x)
        s2 = Attention(s1, s1)
        out = s2
    }

    cell c2 (x = a.f2, y = c1) {
        s1 = Sum(x, y)
        s2 = ConcatFC(s1, x)
        out = s2
    }

    output c1, c2
}
"""

GENOTYPE = Genotype(
    (
        CellChoice(
            0, 2, (StepChoice("LinearGLU", 1, 0), StepChoice("Attention", 2, 2))
        ),
        CellChoice(1, 3, (StepChoice("Sum", 0, 1), StepChoice("ConcatFC", 2, 0))),
    )
)


def _bmg(genotype: Genotype, **overrides: object) -> str:
    arguments: dict = {
        "model_name": "found",
        "features": FEATURES,
        "C": 8,
        "L": 4,
        "classes": 3,
        "task": "multilabel",
        "dropout": 0.2,
        "node_multiplier": 1,
        "meta": {
            "dataset": 'toy "set" \\ v1',
            "seed": 7,
            "val_f1": 0.625,
            "second_order": False,
        },
    }
    arguments.update(overrides)
    return genotype_to_bmg(genotype, **arguments)


def test_bmg_hand_checked_text() -> None:
    assert _bmg(GENOTYPE) == EXPECTED


def test_bmg_passes_front_end_and_is_a_formatter_fixed_point() -> None:
    text = _bmg(GENOTYPE)
    result = analyse_text(text)
    assert result.ok, result.render_diagnostics()
    assert format_file(parse(text)) == text
    # Meta values survive the round trip with their types.
    meta = parse(text).models[0].meta[0].entries
    assert [(e.key, e.value) for e in meta] == [
        ("dataset", 'toy "set" \\ v1'),
        ("seed", 7),
        ("val_f1", 0.625),
        ("second_order", False),
    ]


def test_bmg_all_steps_out_and_float_spellings() -> None:
    text = _bmg(
        GENOTYPE, node_multiplier=2, dropout=0.0, meta={"lr": 1e-05, "big": 1e20}
    )
    assert "dropout 0.0\n" in text
    assert "lr = 1e-05" in text and "big = 1e+20" in text
    assert "out = s1, s2" in text
    assert analyse_text(text).ok
    assert format_file(parse(text)) == text


def test_bmg_derived_from_weights_round_trips() -> None:
    cells = [
        _same_cell(t(0.9, 0.2, 0.8), (t(0.3, 0.7), "Sum"), (t(0.1, 0.2, 0.9), "Sum")),
        _same_cell(
            t(0.1, 0.2, 0.8, 0.95),
            (t(0.8, 0.2), "Attention"),
            (t(0.1, 0.9, 0.3), "LinearGLU"),
        ),
    ]
    genotype = derive_genotype(cells, features=3, ops=PAPER_OPS)
    text = _bmg(genotype, node_multiplier=2, meta={})
    assert "meta" not in text
    assert "cell c2 (x = b.g1, y = c1) {" in text
    assert analyse_text(text).ok
    assert format_file(parse(text)) == text


def test_bmg_with_zero_steps_is_valid_with_warnings() -> None:
    cells = [
        _same_cell(t(0.9, 0.2, 0.8), (t(0.3, 0.7), "Zero"), (t(0.1, 0.2, 0.9), "Sum")),
        _same_cell(t(0.9, 0.2, 0.8, 0.9), (t(0.3, 0.7), "Zero")),
    ]
    genotype = derive_genotype(cells, features=3, ops=PAPER_OPS)
    assert genotype.cells[1].steps[0].op == "Zero"
    text = _bmg(genotype, node_multiplier=1)
    result = analyse_text(text)
    assert result.ok, result.render_diagnostics()
    assert "W002" in {d.code for d in result.diagnostics}
    assert format_file(parse(text)) == text


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model_name": "class"}, "model name"),
        ({"model_name": "9lives"}, "identifier"),
        ({"meta": {"bad key": 1}}, "meta key"),
        ({"meta": {"note": "two\nlines"}}, "one-line"),
        ({"meta": {"score": float("inf")}}, "finite"),
        ({"node_multiplier": 3}, "node_multiplier"),
        ({"task": "regression"}, "task"),
        ({"features": [("a.f1", (1,)), ("b.g", (1,)), ("a.f2", (1,))]}, "contiguous"),
    ],
)
def test_bmg_refuses_what_text_cannot_carry(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _bmg(GENOTYPE, **overrides)


def test_bmg_refuses_inputs_that_are_not_earlier_nodes() -> None:
    later = Genotype((CellChoice(0, 3, (StepChoice("Sum", 0, 1),)),))
    with pytest.raises(ValueError, match="precede"):
        _bmg(later)
    bad_step = Genotype((CellChoice(0, 1, (StepChoice("Sum", 0, 2),)),))
    with pytest.raises(ValueError, match="precede"):
        _bmg(bad_step)
