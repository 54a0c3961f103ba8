"""The released structure is checked before anything is written: each problem is one
line that says what and where (FILE:LINE:COL for text, FILE for a pickle)."""

from __future__ import annotations

import pickle

import pytest
from released_forms import NTU_CONFIG1, released_module, released_object

from bmnas_dsl.errors import ReleasedGenotypeError
from bmnas_dsl.ir.ops import OPS
from bmnas_dsl.released.convert import import_data, settings_for
from bmnas_dsl.released.genotype import STEP_OPS

NTU = settings_for("ntu")
FIRST_STEPS = "inner_edges=[('skip', 0), ('skip', 1), ('skip', 2), ('skip', 0)]"
THREE_STEPS = (
    "StepGenotype(inner_edges=[('skip', 0), ('skip', 1), ('skip', 2), ('skip', 0), "
    "('skip', 3), ('skip', 1)], inner_steps=['Sum', 'Sum', 'Sum'], inner_concat=[3, 4])"
)
SECOND_STEP = (
    "StepGenotype(inner_edges=[('skip', 0), ('skip', 1), ('skip', 2), ('skip', 0)], "
    "inner_steps=['ScaleDotAttn', 'ScaleDotAttn'], inner_concat=[2, 3])"
)

# (text to replace, its replacement (first occurrence only), where the error points
# (a unique piece of the changed text, and an offset into it), the message)
CASES = {
    "index out of range": (
        "('skip', 7)",
        "('skip', 12)",
        ("12)", 0),
        "edges[1][1]: index 12 is out of range: cell 1 reads nodes 0..7 (features "
        "0..7)",
    ),
    "a cell reading itself": (
        "('skip', 2), ('skip', 3)]",
        "('skip', 2), ('skip', 9)]",
        ("9)]", 0),
        "edges[3][1]: index 9 is out of range: cell 2 reads nodes 0..8 (features 0..7, "
        "cell 1 = 8)",
    ),
    "a negative index": (
        "('skip', 7)",
        "('skip', -1)",
        ("-1)", 0),
        "edges[1][1]: index -1 is out of range",
    ),
    "odd number of edges": (
        "('skip', 2), ('skip', 3)]",
        "('skip', 2)]",
        ("[('skip', 2), ('skip', 7)", 0),
        "edges: has 3 (op, index) pair(s); the released format has two per cell",
    ),
    "more cells than steps": (
        "('skip', 2), ('skip', 3)]",
        "('skip', 2), ('skip', 3), ('skip', 1), ('skip', 4)]",
        ("[StepGenotype", 0),
        "steps: has 2 StepGenotype(s) for the 3 cell(s) of edges (two pairs per cell)",
    ),
    "unknown step op": (
        "'LinearGLU', 'LinearGLU'",
        "'LinearGLU', 'Linear'",
        ("'Linear']", 0),
        "steps[0].inner_steps[1]: unknown step op 'Linear'; the released ops are Sum, "
        "ScaleDotAttn, LinearGLU, ConcatFC (older: sum, scale_dot_attn, cat_conv_glu, "
        "cat_conv_relu)",
    ),
    "unknown edge op": (
        "[('skip', 2)",
        "[('max_pool_3x3', 2)",
        ("'max_pool_3x3'", 0),
        "edges[0][0]: unknown edge op 'max_pool_3x3'; the released edge ops are 'skip' "
        "and 'none'",
    ),
    "a zero input": (
        "[('skip', 2)",
        "[('none', 2)",
        ("'none'", 0),
        "edges[0][0]: is 'none', a zero input: the released derivation never picks it "
        "and a bmnas cell cannot take one",
    ),
    "a zero operand": (
        "('skip', 0), ('skip', 1), ('skip', 2)",
        "('skip', 0), ('none', 1), ('skip', 2)",
        ("'none'", 0),
        "steps[0].inner_edges[1][0]: is 'none', a zero operand",
    ),
    "concat naming a feature": (
        "concat=[8, 9]",
        "concat=[3, 9]",
        ("3, 9]", 0),
        "concat[0]: names node 3, which is feature 3, not a cell (cells are 8..9)",
    ),
    "concat out of range": (
        "concat=[8, 9]",
        "concat=[8, 10]",
        ("10]", 0),
        "concat[1]: names node 10, out of range, not a cell (cells are 8..9)",
    ),
    "concat not the last cells": (
        "concat=[8, 9]",
        "concat=[8]",
        ("[8])", 0),
        "concat: is [8], not the last 1 cell(s) [9]: the released network concatenates "
        "the last len(concat) cells whatever the list names",
    ),
    "concat empty": (
        "concat=[8, 9]",
        "concat=[]",
        ("[])", 0),
        "concat: is empty; it must name the last cell(s) (cells are 8..9)",
    ),
    "inner index forward": (
        FIRST_STEPS,
        FIRST_STEPS.replace("('skip', 0), ('skip', 1),", "('skip', 2), ('skip', 1),"),
        ("2), ('skip', 1), ('skip', 2)", 0),
        "steps[0].inner_edges[0][1]: inner index 2 of step 1 points forward: step 1 "
        "reads inner nodes 0..1 (x = 0, y = 1)",
    ),
    "inner index out of range": (
        FIRST_STEPS,
        FIRST_STEPS.replace("('skip', 2), ('skip', 0)]", "('skip', 5), ('skip', 0)]"),
        ("5), ('skip', 0)]", 0),
        "steps[0].inner_edges[2][1]: inner index 5 is out of range: the inner nodes are "
        "0..3 (x = 0, y = 1, steps 2..3)",
    ),
    "inner_concat naming y": (
        "inner_concat=[2, 3]",
        "inner_concat=[1, 3]",
        ("1, 3]", 0),
        "steps[0].inner_concat[0]: names node 1, which is y, not a step (steps are "
        "2..3)",
    ),
    "inner_concat not the last steps": (
        "inner_concat=[2, 3]",
        "inner_concat=[2]",
        ("[2]", 0),
        "steps[0].inner_concat: is [2], not the last 1 step(s) [3]",
    ),
    "the same input twice": (
        "('skip', 2), ('skip', 7)",
        "('skip', 2), ('skip', 2)",
        ("[('skip', 2), ('skip', 2)", len("[('skip', 2), ('skip', ")),
        "edges[1][1]: cell 1 reads node 2 as both x and y; a cell needs two distinct "
        "inputs",
    ),
    "an index that is a string": (
        "('skip', 7)",
        "('skip', '7')",
        ("('skip', '7')", 0),
        "edges[1]: is a tuple of 2 item(s), not an (op, index) pair",
    ),
    "an op name that is a number": (
        "'LinearGLU', 'LinearGLU'",
        "'LinearGLU', 3",
        ("3]", 0),
        "steps[0].inner_steps[1]: is the integer 3, not an op name",
    ),
    "cells with different step counts": (
        SECOND_STEP,
        THREE_STEPS,
        ("['Sum', 'Sum'", 0),
        "steps[1].inner_steps: cell 2 has 3 step(s) but cell 1 has 2; the released "
        "network has one --node_steps for every cell",
    ),
    "wrong number of inner edges": (
        FIRST_STEPS,
        "inner_edges=[('skip', 0), ('skip', 1), ('skip', 2)]",
        ("[('skip', 0), ('skip', 1), ('skip', 2)]", 0),
        "steps[0].inner_edges: has 3 (op, index) pair(s) for 2 step(s); the released "
        "format has two per step",
    ),
    "no steps": (
        "inner_steps=['LinearGLU', 'LinearGLU']",
        "inner_steps=[]",
        ("[], inner_concat", 0),
        "steps[0].inner_steps: is empty; a cell needs at least one step",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_structure_is_one_located_line(case):
    old, new, (anchor, offset), message = CASES[case]
    assert old in NTU_CONFIG1, case
    text = "epoch 1\n" + NTU_CONFIG1.replace(old, new, 1)
    column = text.split("\n")[1].index(anchor) + offset + 1
    with pytest.raises(ReleasedGenotypeError) as error:
        import_data(text.encode(), "log.txt", NTU)
    assert str(error.value).startswith(f"log.txt:2:{column}: {message}"), case
    assert "\n" not in str(error.value)


def test_a_pickled_genotype_is_located_by_its_path():
    with released_module() as module:
        value = released_object(
            module, NTU_CONFIG1.replace("('skip', 7)", "('skip', 12)")
        )
        data = pickle.dumps(value, protocol=4)
    with pytest.raises(ReleasedGenotypeError) as error:
        import_data(data, "best_genotype.pkl", NTU)
    assert str(error.value) == (
        "best_genotype.pkl: edges[1][1]: index 12 is out of range: cell 1 reads nodes "
        "0..7 (features 0..7)"
    )


def test_a_pickle_of_something_else_says_what_it_holds():
    data = pickle.dumps([1, 2], protocol=2)
    with pytest.raises(ReleasedGenotypeError) as error:
        import_data(data, "g.pkl", NTU)
    assert str(error.value) == (
        "g.pkl: the genotype: is a list of 2 item(s), not a Genotype"
    )


def test_every_released_op_name_maps_to_a_registry_op():
    assert set(STEP_OPS.values()) <= set(OPS)
    assert {
        STEP_OPS[old]
        for old in ("sum", "scale_dot_attn", "cat_conv_glu", "cat_conv_relu")
    } == {STEP_OPS[new] for new in ("Sum", "ScaleDotAttn", "LinearGLU", "ConcatFC")}


@pytest.mark.parametrize(
    "new, old",
    [
        ("LinearGLU", "cat_conv_glu"),
        ("ScaleDotAttn", "scale_dot_attn"),
    ],
)
def test_old_op_names_import_as_the_same_network(new, old):
    current = import_data(NTU_CONFIG1.encode(), "g.txt", NTU)
    older = import_data(NTU_CONFIG1.replace(new, old).encode(), "g.txt", NTU)
    assert older.structure.cells == current.structure.cells
    # The text differs only in the provenance, which keeps the file's own spelling.
    differing = [
        (a, b)
        for a, b in zip(current.text.splitlines(), older.text.splitlines(), strict=True)
        if a != b
    ]
    assert len(differing) == 1
    assert differing[0][1].strip().startswith("released_genotype = ")
    assert f"'{old}'" in differing[0][1]


def test_sum_and_concat_fc_under_their_old_names():
    text = NTU_CONFIG1.replace("'LinearGLU', 'LinearGLU'", "'sum', 'cat_conv_relu'")
    imported = import_data(text.encode(), "g.txt", NTU)
    assert "s1 = Sum(x, y)" in imported.text
    assert "s2 = ConcatFC(s1, x)" in imported.text
