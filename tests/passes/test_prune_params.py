"""Pruning (Zero steps, Sum folding, unreachable parts) and parameter counts."""

from __future__ import annotations

from conftest import MINIMAL, REPO

from bmnas_dsl.passes.describe import describe
from bmnas_dsl.passes.params import cell_params, reshape_params
from bmnas_dsl.passes.pipeline import analyse_file, analyse_text
from bmnas_dsl.passes.prune import ZERO


def info_of(text: str) -> dict:
    result = analyse_text(text)
    assert result.ok, result.render_diagnostics()
    return describe(result.pruned)


def test_mmimdb_readme_counts_exactly_532416():
    result = analyse_file(REPO / "examples" / "mmimdb_readme.bmg")
    params = describe(result.pruned)["params"]
    assert params["reshape"] + params["cells"] + params["head"] == 532_416
    assert params["total"] == 532_416 + 2 * 192 * 16 * 23 + 23


def test_formulas_of_semantics_md():
    C, L = 128, 8
    assert reshape_params(C, 2048) == 128 * 2051
    assert cell_params(C, L, ["LinearGLU"], 1) == 4 * C * C + 6 * C + 2 * C * L
    assert cell_params(C, L, ["ConcatFC", "Attention"], 2) == (
        2 * C * C + 3 * C + 2 * C * L + 2 * C * L + 2 * C * C + C + 2 * C
    )
    assert cell_params(C, L, ["Sum", "Zero"], 1) == 2 * C * L


def test_minimal_counts_by_hand():
    info = info_of(MINIMAL)
    C, L = 8, 4
    assert info["inputs"] == [
        {"name": "a.f1", "shape": [16, 5]},
        {"name": "a.f2", "shape": [32]},
        {"name": "b.g1", "shape": [12, 3, 3]},
    ]
    reshape = C * (16 + 3) + C * (32 + 3) + C * (12 + 3)
    c1 = 0 + 2 * C * L + 2 * C * L + (2 * C * C + C + 2 * C)
    c2 = 4 * C * C + 6 * C + 2 * C * L
    width = 2 * C * L
    assert info["params"] == {
        "reshape": reshape,
        "cells": c1 + c2,
        "head": 2 * width,
        "classifier": width * 3 + 3,
        "total": reshape + c1 + c2 + 2 * width + width * 3 + 3,
    }


def test_zero_step_is_removed_and_sum_with_zero_becomes_its_other_operand():
    text = MINIMAL.replace("s1 = Sum(x, y)", "z = Zero(x, y)\n        s1 = Sum(z, y)")
    info = info_of(text)
    c1 = info["cells"][0]
    assert [s["name"] for s in c1["steps"]] == ["s2"]
    assert c1["steps"][0]["operands"] == ["y", "y"]  # s1 folded into y
    assert c1["out"] == ["y", "s2"]
    removed = {(r["name"], r["reason"]) for r in info["removed"]}
    assert {("c1.z", "zero"), ("c1.s1", "folded")} <= removed


def test_zero_operand_of_a_real_op_is_kept_as_zeros():
    text = MINIMAL.replace("s1 = Sum(x, y)", "s1 = Zero(x, y)")
    result = analyse_text(text)
    step = result.pruned.nodes["step:c1.s2"]
    assert step["operands"] == [ZERO, "input:c1.y"]
    cell = describe(result.pruned)["cells"][0]
    # The zero block is dropped from the concatenation, but `out` was written with two
    # entries, so the k*C -> C projection stays (over the live C channels only).
    assert cell["out"] == ["s2"] and cell["project"] is True
    C, L = 8, 4
    c1 = 2 * C * L + 2 * C * L + (1 * C * C + C + 2 * C)
    c2 = 4 * C * C + 6 * C + 2 * C * L
    assert describe(result.pruned)["params"]["cells"] == c1 + c2


def test_cell_with_only_zero_outputs_keeps_layernorm_of_x():
    text = MINIMAL.replace("LinearGLU(x, y)", "Zero(x, y)")
    info = info_of(text)
    c2 = info["cells"][1]
    assert c2["steps"] == [] and c2["out"] == [] and c2["y"] is None
    assert c2["project"] is False
    assert "a.f2" not in [i["name"] for i in info["inputs"]]  # only the dead y read it
    assert ("feature", "a.f2") in {(r["kind"], r["name"]) for r in info["removed"]}


def test_unreachable_cells_steps_and_features_are_pruned():
    text = MINIMAL.replace("out = s1, s2", "out = s1").replace(
        "output c1, c2", "output c1"
    )
    info = info_of(text)
    assert [c["name"] for c in info["cells"]] == ["c1"]
    assert [s["name"] for s in info["cells"][0]["steps"]] == ["s1"]
    assert [i["name"] for i in info["inputs"]] == ["a.f1", "b.g1"]
    removed = {(r["kind"], r["name"], r["reason"]) for r in info["removed"]}
    assert removed == {
        ("step", "c1.s2", "unreachable"),
        ("cell", "c2", "unreachable"),
        ("feature", "a.f2", "unused"),
    }
    assert analyse_text(text).pruned.graph["cell_order"] == ["c1"]


def test_cells_are_ordered_by_dependency_not_by_text():
    text = MINIMAL.replace("output c1, c2", "output c2")
    # Move c2 (which reads c1) above c1 in the text.
    start, end = text.index("    cell c2"), text.index("    output")
    moved = (
        text[: text.index("    cell c1")]
        + text[start:end]
        + text[text.index("    cell c1") : start]
        + text[end:]
    )
    result = analyse_text(moved)
    assert result.ok
    assert result.pruned.graph["cell_order"] == ["c1", "c2"]


def test_cell_read_only_as_an_unused_y_is_pruned_with_its_own_reason():
    text = (
        MINIMAL.replace("x = c1, y = a.f2", "x = a.f2, y = c1")
        .replace("LinearGLU(x, y)", "LinearGLU(x, x)")
        .replace("output c1, c2", "output c2")
    )
    result = analyse_text(text)
    assert result.ok
    [w003] = [d for d in result.diagnostics if d.code == "W003"]
    assert "only read as a `y` input that no kept step uses" in w003.message
    assert (w003.span.line, w003.span.column) == (16, 10)


def test_an_unreachable_zero_step_gets_w001_as_well_as_w002():
    # The spec lists W001 for every step not reachable from `out`, Zero steps included;
    # a Zero step that a kept step reads gets W002 only.
    from bmnas_dsl.passes.pipeline import analyse_text

    dead = MINIMAL.replace(
        "        out = s1\n", "        z = Zero(x, y)\n        out = s1\n"
    )
    codes = [d.code for d in analyse_text(dead).diagnostics]
    assert codes.count("W001") == 1 and codes.count("W002") == 1
    read = MINIMAL.replace(
        "        s1 = LinearGLU(x, y)\n",
        "        z = Zero(x, y)\n        s1 = LinearGLU(z, y)\n",
    )
    assert [d.code for d in analyse_text(read).diagnostics] == ["W002"]
