"""Released genotype -> .bmg: the network and the parameter count of the released code,
canonical text that checks clean, and the settings a genotype does not carry."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import REPO
from hypothesis import given, settings
from hypothesis import strategies as st
from released_forms import (
    EXAMPLES,
    MMIMDB_README,
    MMIMDB_README_LOGGED_PARAMS,
    NTU_CONFIG1,
)

from bmnas_dsl.api import format_source, import_released
from bmnas_dsl.errors import ReleasedGenotypeError
from bmnas_dsl.lang.parser import parse
from bmnas_dsl.passes.describe import describe
from bmnas_dsl.passes.pipeline import analyse_file, analyse_text
from bmnas_dsl.released import genotype as released
from bmnas_dsl.released.convert import import_data, settings_for
from bmnas_dsl.released.presets import PRESETS

NTU = settings_for("ntu")


def info(text: str) -> dict:
    result = analyse_text(text)
    assert result.ok, result.render_diagnostics()
    return describe(result.pruned)


def fusion_params(params: dict) -> int:
    """What the released log calls Fusion Model Params."""
    return params["reshape"] + params["cells"] + params["head"]


def cell_shape(cell: dict) -> tuple:
    """A cell of `bmnas info --json` without its own names: inputs, ops and operands
    (steps by position), out, projection."""
    position = {step["name"]: i for i, step in enumerate(cell["steps"])}
    steps = [
        (step["op"], [position.get(o, o) for o in step["operands"]])
        for step in cell["steps"]
    ]
    return (
        cell["x"],
        cell["y"],
        steps,
        [position[o] for o in cell["out"]],
        cell["project"],
    )


def test_the_mmimdb_readme_genotype_has_the_released_logs_count():
    imported = import_data(MMIMDB_README.encode(), "log.txt", settings_for("mmimdb"))
    ours = info(imported.text)["params"]
    assert fusion_params(ours) == MMIMDB_README_LOGGED_PARAMS == 532_416
    assert imported.released_params == imported.bmnas_params == 532_416
    # ... the same figures as the hand-written examples/mmimdb_readme.bmg (whose c2
    # reads (x, y) where the README's reads (y, x): same layers, same count).
    example = describe(analyse_file(REPO / "examples" / "mmimdb_readme.bmg").pruned)
    assert ours == example["params"]


def test_the_ntu_genotype_of_the_issue_is_examples_ntu_config1():
    imported = import_data(NTU_CONFIG1.encode(), "g.txt", NTU, name="ntu_config1")
    example_text = (REPO / "examples" / "ntu_config1.bmg").read_text(encoding="utf-8")
    # The same AST but for the meta block: dims, classes, task, dropout, every feature
    # with its shape, cells, steps, out, output.
    ours, theirs = parse(imported.text).models[0], parse(example_text).models[0]
    assert dataclasses.replace(ours, meta=()) == dataclasses.replace(theirs, meta=())
    assert info(imported.text) == info(example_text)
    assert imported.released_params == fusion_params(info(example_text)["params"])


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_each_example_written_in_released_form_imports_as_the_same_network(name):
    imported = import_data(EXAMPLES[name].encode(), f"{name}.txt", NTU)
    ours = info(imported.text)
    example = info((REPO / "examples" / f"{name}.bmg").read_text(encoding="utf-8"))
    assert ours["params"] == example["params"]
    assert ours["inputs"] == example["inputs"]
    assert [cell_shape(c) for c in ours["cells"]] == [
        cell_shape(c) for c in example["cells"]
    ]
    assert imported.released_params == fusion_params(example["params"])


def test_the_output_is_canonical_and_checks_clean():
    imported = import_data(NTU_CONFIG1.encode(), "g.txt", NTU)
    assert format_source(imported.text) == imported.text
    result = analyse_text(imported.text)
    # Five of the eight inputs are unread; `declares_all_features = true` says they are
    # declared on purpose (the released indices count them), so W004 stays quiet.
    assert result.diagnostics == []
    assert [r["name"] for r in describe(result.pruned)["removed"]] == [
        "video.layer2",
        "video.layer3",
        "skeleton.conv5",
        "skeleton.conv6",
        "skeleton.out7",
    ]


def test_without_the_meta_entry_the_unread_inputs_would_be_w004():
    # What the entry is for: the same file without it warns once per unread input.
    imported = import_data(NTU_CONFIG1.encode(), "g.txt", NTU)
    text = imported.text.replace("        declares_all_features = true\n", "")
    codes = [d.code for d in analyse_text(text).diagnostics]
    assert codes == ["W004"] * 5


def test_the_meta_block_says_where_it_came_from_and_the_released_flags():
    imported = import_data(
        MMIMDB_README.encode(), "run/log.txt", settings_for("mmimdb")
    )
    [block] = parse(imported.text).models[0].meta
    meta = {entry.key: entry.value for entry in block.entries}
    assert meta == {
        "source": "released BM-NAS code",
        "imported_from": "log.txt",
        "imported_format": "text",
        "imported_line": 1,
        "preset": "mmimdb",
        "dataset": "MM-IMDB",
        "released_C": 192,
        "released_L": 16,
        "released_num_input_nodes": 6,
        "released_steps": 2,
        "released_multiplier": 2,
        "released_node_steps": 1,
        "released_node_multiplier": 1,
        "released_num_outputs": 23,
        "released_drpt": 0.1,
        "released_params": 532_416,
        "released_genotype": MMIMDB_README,
        "declares_all_features": True,
    }


def test_dead_cells_count_in_the_released_network_and_are_pruned_by_bmnas():
    # concat=[9]: only cell 2 feeds the head, and it does not read cell 1. The released
    # code still builds cell 1 (and the reshape layer of skeleton.fc7, which only cell 1
    # reads) and counts them; bmnas prunes them (W003, W004 is quiet on purpose).
    text = NTU_CONFIG1.replace("concat=[8, 9]", "concat=[9]")
    imported = import_data(text.encode(), "g.txt", NTU)
    C, L = NTU.C, NTU.L
    glu = 4 * C * C + 6 * C  # semantics.md
    cell_1 = 2 * glu + 2 * C * L + (2 * C * C + C + 2 * C)
    fc7_reshape = C * (512 + 3)
    assert imported.released_params - imported.bmnas_params == cell_1 + fc7_reshape
    result = analyse_text(imported.text)
    assert [d.code for d in result.diagnostics] == ["W003"]
    assert "output c2\n" in imported.text


def test_node_multiplier_replaces_the_searchs_inner_concat():
    default = import_data(NTU_CONFIG1.encode(), "g.txt", NTU)
    one = import_data(NTU_CONFIG1.encode(), "g.txt", NTU, node_multiplier=1)
    assert one.text.count("out = s2\n") == 2
    # The 2C -> C projection of each cell is gone: released and bmnas agree.
    C = NTU.C
    assert default.released_params - one.released_params == 2 * (2 * C * C + 3 * C)
    assert one.bmnas_params == one.released_params
    with pytest.raises(
        ReleasedGenotypeError, match=r"--node-multiplier 3 is not in 1\.\.2"
    ):
        import_data(NTU_CONFIG1.encode(), "g.txt", NTU, node_multiplier=3)


@pytest.mark.parametrize(
    "flags, message",
    [
        ({"cells": 3}, "g.txt: the genotype has 2 cell(s), not --cells 3"),
        ({"steps": 1}, "g.txt: the genotype has 2 step(s) per cell, not --steps 1"),
    ],
)
def test_cells_and_steps_flags_are_asserted(flags, message):
    with pytest.raises(ReleasedGenotypeError) as error:
        import_data(NTU_CONFIG1.encode(), "g.txt", NTU, **flags)
    assert str(error.value) == message
    assert import_data(NTU_CONFIG1.encode(), "g.txt", NTU, cells=2, steps=2).text


def test_a_users_own_input_list_replaces_the_presets():
    features = [("rgb.a", (16, 5)), ("rgb.b", (32,)), ("depth.c", (12, 3, 3))]
    mine = settings_for(features=features, C=8, L=4, classes=3)
    text = (
        "Genotype(edges=[('skip', 0), ('skip', 2)], steps=[StepGenotype(inner_edges="
        "[('skip', 0), ('skip', 1)], inner_steps=['ConcatFC'], inner_concat=[2])], "
        "concat=[3])"
    )
    imported = import_data(text.encode(), "g.txt", mine, name="mine")
    assert "cell c1 (x = rgb.a, y = depth.c) {" in imported.text
    assert "task multiclass\n    dropout 0.0\n" in imported.text
    assert info(imported.text)["inputs"] == [
        {"name": "rgb.a", "shape": [16, 5]},
        {"name": "depth.c", "shape": [12, 3, 3]},
    ]
    # The preset's other values stay when only the list is replaced.
    ntu_values = settings_for("ntu", features=features)
    assert (ntu_values.C, ntu_values.classes, ntu_values.features) == (
        128,
        60,
        tuple(features),
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"preset": "kinetics"},
            "unknown preset 'kinetics'; the presets are ntu, mmimdb, ego",
        ),
        ({"C": 8}, "without a preset, give the input list (--features) and --C"),
        (
            {
                "features": [("a.f", (4,)), ("b.g", (4,)), ("a.h", (4,))],
                "C": 8,
                "L": 2,
                "classes": 2,
            },
            "--features: the features of modality 'a' are not together",
        ),
        (
            {"features": [("a.f", (4,)), ("a.f", (4,))], "C": 8, "L": 2, "classes": 2},
            "--features lists a.f twice",
        ),
        (
            {"preset": "ntu", "features": [("class.f", (4,)), ("b.g", (4,))]},
            "--features: modality name 'class' is a Python keyword",
        ),
        (
            {"preset": "ntu", "features": [("a.f", (4, 0)), ("b.g", (4,))]},
            "--features: the shape of a.f needs dimensions 1..",
        ),
        (
            {"preset": "ntu", "features": [("af", (4,)), ("b.g", (4,))]},
            "--features: 'af' is not MODALITY.FEATURE",
        ),
        (
            {"preset": "ntu", "features": [("a.f", (4,))]},
            "--features lists 1 feature(s)",
        ),
        ({"preset": "ntu", "dropout": 1.0}, "--dropout 1.0 is not in [0, 1)"),
        ({"preset": "ntu", "C": 0}, "--C 0 is not a positive integer"),
        (
            {"preset": "ntu", "task": "regression"},
            "--task must be one of multiclass, multilabel",
        ),
    ],
)
def test_bad_settings_are_one_line(kwargs, message):
    preset = kwargs.pop("preset", None)
    with pytest.raises(ReleasedGenotypeError) as error:
        settings_for(preset, **kwargs)
    assert str(error.value).startswith(message)


def test_the_api_takes_a_path_the_printed_text_or_bytes(tmp_path):
    path = tmp_path / "best.txt"
    path.write_text("epoch 9\n" + NTU_CONFIG1 + "\n", encoding="utf-8")
    from_path = import_released(path, preset="ntu", name="n")
    from_text = import_released(NTU_CONFIG1, preset="ntu", name="n")
    from_bytes = import_released(NTU_CONFIG1.encode(), preset="ntu", name="n")
    strip = lambda text: "\n".join(  # noqa: E731 - the provenance lines differ
        line for line in text.splitlines() if "imported_" not in line
    )
    assert strip(from_path) == strip(from_text) == strip(from_bytes)
    assert 'imported_from = "best.txt"' in from_path
    assert 'imported_from = "<string>"' in from_text
    assert "dims C = 64, L = 8" in import_released(NTU_CONFIG1, preset="ntu", C=64)
    with pytest.raises(ReleasedGenotypeError, match=r"cannot read .*nope\.pkl"):
        import_released(tmp_path / "nope.pkl", preset="ntu")


# -- property: any genotype the released search could derive imports and checks clean --

ALL_STEP_OPS = sorted(released.STEP_OPS)


@st.composite
def released_genotypes(draw, features: int):
    """A random valid released genotype over `features` inputs, as its printed form."""
    cells = draw(st.integers(1, 4))
    steps = draw(st.integers(1, 3))
    node_multiplier = draw(st.integers(1, steps))
    multiplier = draw(st.integers(1, cells))
    edges, step_genotypes = [], []
    for k in range(cells):
        x, y = draw(
            st.lists(
                st.integers(0, features + k - 1), min_size=2, max_size=2, unique=True
            )
        )
        edges += [("skip", x), ("skip", y)]
        inner = []
        for i in range(steps):
            inner += [("skip", draw(st.integers(0, i + 1))) for _ in range(2)]
        step_genotypes.append(
            released.StepGenotype(
                inner_edges=inner,
                inner_steps=draw(
                    st.lists(
                        st.sampled_from(ALL_STEP_OPS), min_size=steps, max_size=steps
                    )
                ),
                inner_concat=list(range(steps + 2 - node_multiplier, steps + 2)),
            )
        )
    concat = list(range(features + cells - multiplier, features + cells))
    return repr(released.Genotype(edges=edges, steps=step_genotypes, concat=concat))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), preset=st.sampled_from(sorted(PRESETS)))
def test_any_derivable_genotype_imports_as_canonical_text_that_checks(data, preset):
    values = settings_for(preset)
    printed = data.draw(released_genotypes(len(values.features)))
    imported = import_data(f"log line\n{printed}\n".encode(), "log.txt", values)
    result = analyse_text(imported.text)
    assert result.ok, result.render_diagnostics()
    assert not [d for d in result.diagnostics if d.code == "W004"]
    assert format_source(imported.text) == imported.text
    assert imported.structure.printed == printed
    # What bmnas builds is the released network less what never reaches the output.
    assert imported.bmnas_params <= imported.released_params
    # Equal when nothing is pruned: no dead step or cell (W001, W003) and every cell's
    # y read by a step (else bmnas drops the y feature the released code reshapes).
    # Not conversely: a dead Sum step costs nothing.
    dead = [d for d in result.diagnostics if d.code in ("W001", "W003")]
    if not dead and all(cell["y"] for cell in describe(result.pruned)["cells"]):
        assert imported.bmnas_params == imported.released_params
