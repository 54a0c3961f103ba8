"""`bmnas export --weights` (issue 13 item 14): what a training run writes is accepted
(RUN_DIR, its weights.safetensors, its checkpoint.pt); every other file is one line
saying which files are accepted and how to get one, never torch's advice to load with
weights_only=False."""

from __future__ import annotations

import argparse
import pickle
import shutil

import numpy as np
import pytest
import torch
from planted_genotypes import PLANTED_PAIR
from reliability_helpers import assert_one_line_error, run_cli_many

from bmnas_dsl import api
from bmnas_dsl.backend.infer import run_inference
from bmnas_dsl.backend.weights import ACCEPTED
from bmnas_dsl.cli.parser import build_parser
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.runs.layout import BEST_GENOTYPE, CHECKPOINT, GENOTYPE, MODULE, WEIGHTS

GENOTYPE_TEXT = PLANTED_PAIR


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A finished training run, the same run without its weights (as a killed run
    leaves it), and a small search run."""
    root = tmp_path_factory.mktemp("export_weights")
    api.run_training(GENOTYPE_TEXT, "planted", root / "train", epochs=2, threads=1)
    shutil.copytree(root / "train", root / "killed")
    (root / "killed" / WEIGHTS).unlink()
    api.run_search(
        make_planted(size=300),
        root / "search",
        epochs=1,
        threads=1,
        cells=1,
        steps=1,
        rerank=0,
        candidates=8,
    )
    (root / "genotype.bmg").write_text(GENOTYPE_TEXT)
    return root


def test_a_training_runs_directory_weights_and_checkpoint_all_export_the_same(runs):
    genotype = str(runs / "genotype.bmg")
    given = {
        "dir": runs / "train",
        "weights": runs / "train" / WEIGHTS,
        "checkpoint": runs / "train" / CHECKPOINT,
    }
    results = run_cli_many(
        [
            ["export", genotype, "-o", str(runs / f"{name}.onnx"), "--weights", str(path)]
            for name, path in given.items()
        ]
    )  # fmt: skip
    assert [r["status"] for r in results] == [0, 0, 0], results
    logits = {
        name: run_inference(runs / f"{name}.onnx", "planted", "cpu", "test").logits
        for name in given
    }
    np.testing.assert_array_equal(logits["dir"], logits["weights"])
    np.testing.assert_array_equal(logits["checkpoint"], logits["weights"])
    # And they are the trained weights, not the initial ones.
    [fresh] = run_cli_many([["export", genotype, "-o", str(runs / "fresh.onnx")]])
    assert fresh["status"] == 0, fresh
    initial = run_inference(runs / "fresh.onnx", "planted", "cpu", "test").logits
    assert not np.allclose(initial, logits["weights"])


def test_files_that_are_no_weights_say_what_is_accepted(runs, tmp_path):
    train = runs / "train"
    # A whole module (what `torch.save(model)` writes), not its state_dict.
    torch.save(torch.nn.Sequential(torch.nn.Linear(2, 2)), tmp_path / "whole_model.pt")
    with open(tmp_path / "weights.pkl", "wb") as handle:
        pickle.dump({"head.classifier.bias": [0.0, 0.0]}, handle)
    shutil.copy(train / MODULE, tmp_path / "model_code")  # no suffix to go by
    (tmp_path / "noise.pt").write_bytes(bytes(range(256)) * 4)
    torch.save({"lr": 0.1, "epochs": 3}, tmp_path / "settings.pt")
    torch.save({}, tmp_path / "empty.pt")
    holds_objects = (
        "cannot read weights: the file holds Python objects other than tensors (a "
        "pickle, a whole saved model, a .py file?), which bmnas never unpickles; "
    )
    cases = [
        (train / MODULE, f"cannot read weights: Python code, not weights (the weights beside it: {train / WEIGHTS}); {ACCEPTED}"),
        (train / GENOTYPE, f"cannot read weights: a genotype, not weights (the weights beside it: {train / WEIGHTS}); {ACCEPTED}"),
        (tmp_path / "whole_model.pt", holds_objects + ACCEPTED),
        (tmp_path / "weights.pkl", holds_objects + ACCEPTED),
        (tmp_path / "model_code", "cannot read weights: "),
        (tmp_path / "noise.pt", "cannot read weights: "),
        (tmp_path / "settings.pt", f"not a state_dict (a mapping of names to tensors) but a mapping whose entries are not all name -> tensor (keys 'lr', 'epochs'); {ACCEPTED}"),
        (tmp_path / "empty.pt", f"not a state_dict (a mapping of names to tensors) but an empty mapping; {ACCEPTED}"),
        (runs / "killed", f"cannot read weights: a directory without {WEIGHTS} (the run has not finished; its last finished epoch is in {runs / 'killed' / CHECKPOINT}); {ACCEPTED}"),
        (runs / "search", f"cannot read weights: a directory without {WEIGHTS} (a search run directory: train its {BEST_GENOTYPE} first); {ACCEPTED}"),
        (runs / "search" / CHECKPOINT, f"a search checkpoint (the supernet's weights, not a genotype's): train the genotype first (`bmnas train RUN/{BEST_GENOTYPE} --data D -o RUN_DIR`) and pass RUN_DIR/{WEIGHTS}"),
    ]  # fmt: skip
    out = tmp_path / "out.onnx"
    results = run_cli_many(
        [
            ["export", str(runs / "genotype.bmg"), "-o", str(out), "--weights", str(path)]
            for path, _ in cases
        ]
    )  # fmt: skip
    for (path, message), result in zip(cases, results, strict=True):
        assert_one_line_error(result, f"bmnas export: error: {path}: ", message)
        assert "weights_only" not in result["stderr"], result["stderr"]
        if "cannot read" in message:
            assert result["stderr"].rstrip().endswith(ACCEPTED), result["stderr"]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_weights_of_another_genotype_name_the_file(runs, tmp_path):
    other = GENOTYPE_TEXT.replace("ConcatFC", "LinearGLU")
    (tmp_path / "other.bmg").write_text(other)
    [result] = run_cli_many(
        [["export", str(tmp_path / "other.bmg"), "-o", str(tmp_path / "o.onnx"),
          "--weights", str(runs / "train")]]
    )  # fmt: skip
    assert_one_line_error(
        result,
        f"bmnas export: error: {runs / 'train' / WEIGHTS}: weights do not fit this "
        "genotype; wrong shape: cells.c1.s1.conv.weight (8, 16, 1) (model: (16, 16, 1))",
    )


def test_export_help_describes_every_option_and_its_default():
    parser = build_parser()
    [commands] = [
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    ]
    export = commands.choices["export"]
    assert export.description and "ONNX Runtime" in export.description
    helps = {}
    for action in export._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[-1] if action.option_strings else action.dest
        assert action.help, f"{name} has no help"
        helps[name] = action.help
    assert set(helps) == {"file", "--output", "--weights", "--provider"}
    assert "(default: auto)" in helps["--provider"]
    assert "default: none" in helps["--weights"]
    for accepted in ("RUN_DIR/weights.safetensors", "checkpoint.pt", "state_dict"):
        assert accepted in helps["--weights"]
