"""The genotype a search writes checks clean (issue 13, item 12): it declares every
feature of the data (the search space, which hand edits and the ablations draw on) and
marks that with `declares_all_features = true`, so `bmnas check` prints no W004 for the
features its cells do not read, while `bmnas data --genotype` still matches it to the
bank."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import run_bmnas, run_bmnas_here

from bmnas_dsl.data.bank import load_bank, save_bank
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.experiments import ablation
from bmnas_dsl.passes.pipeline import analyse_file


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bank") / "planted.npz"
    save_bank(make_planted(size=300, seed=3), path)
    return path


@pytest.mark.parametrize("selection", ["sample", "paper"])
def test_the_searched_genotype_checks_clean(bank, tmp_path, selection):
    output, run = tmp_path / "arch.bmg", tmp_path / "arch.run"
    searched = run_bmnas_here(
        "search",
        "--data",
        str(bank),
        "-o",
        str(output),
        "--run-dir",
        str(run),
        "--C",
        "8",
        "--L",
        "2",
        "--cells",
        "1",
        "--steps",
        "1",
        "--epochs",
        "2",
        "--rerank",
        "0",
        "--selection",
        selection,
        "--threads",
        "1",
    )
    assert searched.returncode == 0, searched.stderr
    for path in (output, run / "best.bmg"):
        checked = run_bmnas("check", str(path))
        assert checked.returncode == 0, checked.stderr
        assert checked.stdout == f"{path}: ok\n"
        assert checked.stderr == ""  # no warning of any kind
        assert run_bmnas("fmt", "--check", str(path)).returncode == 0

    # Not quiet by leaving features out: every feature of the bank is declared, and
    # one cell reads only two of the eight.
    result = analyse_file(output)
    [model] = result.tree.models
    declared = ablation.feature_names(model)
    assert declared == list(load_bank(bank).features)
    assert len(result.pruned.graph["inputs"]) == 2
    meta = {e.key: e.value for block in model.meta for e in block.entries}
    assert meta["declares_all_features"] is True
    # The mark is what keeps check quiet: without it the six W004 come back.
    unmarked = tmp_path / "unmarked.bmg"
    unmarked.write_text(
        output.read_text().replace("        declares_all_features = true\n", "")
    )
    warned = run_bmnas("check", str(unmarked))
    assert warned.returncode == 0
    assert warned.stderr.count("warning[W004]") == len(declared) - 2

    # `bmnas data --genotype` still matches it to the bank, and the ablations still
    # draw from every feature (the declarations are the search space).
    matched = run_bmnas("data", str(bank), "--genotype", str(output))
    assert matched.returncode == 0, matched.stderr
    assert matched.stdout.rstrip().endswith(
        f"{output}: every input is in the bank with the declared shape"
    )
    assert ablation.allowed_inputs(model, 0) == declared
