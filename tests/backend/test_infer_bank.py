"""`bmnas infer --inputs BANK` (issue 13 item 13): a data set name or a bank file gives
the model the features it takes, `--split` chooses rows, `-o` writes the predictions
with the bank's labels and rows, and without `-o` a short summary (never the arrays)."""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np
import pytest
import torch
from planted_genotypes import PLANTED_PAIR
from reliability_helpers import assert_one_line_error, run_cli_many

from bmnas_dsl import api
from bmnas_dsl.backend import infer
from bmnas_dsl.backend.weights import load_weights
from bmnas_dsl.cli.parser import build_parser
from bmnas_dsl.data.bank import save_bank
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.nn.metrics import weighted_f1
from bmnas_dsl.runs.layout import WEIGHTS

# A fusion of the two planted features (docs/data.md, "planted").
GENOTYPE = PLANTED_PAIR


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A one-epoch training run on planted and its export: (folder, metrics, model)."""
    root = tmp_path_factory.mktemp("infer_bank")
    metrics = api.run_training(GENOTYPE, "planted", root / "run", epochs=1, threads=1)
    api.export_onnx(GENOTYPE, root / "p.onnx", weights=root / "run" / WEIGHTS)
    model = api.load_module(GENOTYPE).Model().eval()
    load_weights(model, root / "run" / WEIGHTS)
    return root, metrics, model


def torch_logits(model: torch.nn.Module, rows: np.ndarray) -> np.ndarray:
    bank = make_planted()
    with torch.no_grad():
        return model(
            *(torch.from_numpy(bank.features[n][rows]) for n in ("a.f3", "b.f2"))
        ).numpy()


def test_a_named_bank_is_run_and_scored_as_training_scored_it(trained):
    root, metrics, model = trained
    onnx = str(root / "p.onnx")
    test_out, all_out = root / "test.npz", root / "all.npz"
    results = run_cli_many(
        [
            ["infer", onnx, "--inputs", "planted", "--split", "test", "-o", str(test_out)],
            ["infer", onnx, "--inputs", "planted", "-o", str(all_out)],
            ["infer", onnx, "--inputs", "planted"],
        ]
    )  # fmt: skip
    assert [r["status"] for r in results] == [0, 0, 0], results
    accuracy = f"{metrics['test']['accuracy']:.4f}"
    test_lines = results[0]["stdout"].splitlines()
    assert test_lines[0] == (
        "planted, test split: 600 sample(s), input(s) a.f3, b.f2 -> logits [600, 4]"
    )
    assert test_lines[2] == f"accuracy against the bank's labels: test {accuracy}"
    assert test_lines[3] == (
        f"wrote {test_out} (logits, predicted, labels, split, index)"
    )
    bank = make_planted()
    with np.load(test_out, allow_pickle=False) as out:
        index = out["index"]
        np.testing.assert_array_equal(index, bank.indices("test"))
        np.testing.assert_array_equal(out["labels"], bank.labels[index])
        np.testing.assert_array_equal(out["split"], np.full(600, 2, np.int8))
        np.testing.assert_array_equal(out["predicted"], out["logits"].argmax(axis=1))
        np.testing.assert_allclose(
            out["logits"], torch_logits(model, index), atol=1e-4, rtol=1e-4
        )
        counts = np.bincount(out["predicted"], minlength=4)
    shown = ", ".join(f"{k}: {n}" for k, n in enumerate(counts) if n)
    assert test_lines[1] == f"predicted class counts: {shown}"
    # All rows (the default): every split scored, rows in the bank's order.
    with np.load(all_out, allow_pickle=False) as out:
        np.testing.assert_array_equal(out["index"], np.arange(3000))
        np.testing.assert_array_equal(out["split"], bank.split)
    summary = results[2]["stdout"]
    assert summary.splitlines()[0].startswith("planted (all splits): 3000 sample(s)")
    assert f", test {accuracy}" in summary and "train 0." in summary
    assert len(summary.splitlines()) == 3 and len(summary) < 300, summary


def test_a_bank_file_holding_more_features_gives_the_model_its_own(trained, tmp_path):
    """The bank file has eight features and both modalities; the model takes two."""
    root, _, model = trained
    bank = make_planted()
    save_bank(bank, tmp_path / "planted.npz")
    out = tmp_path / "val.npz"
    [result] = run_cli_many(
        [
            ["infer", str(root / "p.onnx"), "--inputs", str(tmp_path / "planted.npz"),
             "--split", "val", "-o", str(out)],
        ]
    )  # fmt: skip
    assert result["status"] == 0, result
    assert result["stdout"].startswith(
        f"{tmp_path / 'planted.npz'}, val split: 600 sample(s), input(s) a.f3, b.f2"
    )
    with np.load(out, allow_pickle=False) as arrays:
        np.testing.assert_array_equal(arrays["index"], bank.indices("val"))
        np.testing.assert_allclose(
            arrays["logits"], torch_logits(model, bank.indices("val")), atol=1e-4
        )


def test_a_plain_npz_of_inputs_gives_a_summary_not_the_arrays(trained, tmp_path):
    """The issue's case: 360 samples used to print 360 numbers on one line."""
    root, _, _ = trained
    bank = make_planted()
    np.savez(
        tmp_path / "x.npz",
        **{name: bank.features[name][:360] for name in ("a.f3", "b.f2")},
    )
    [result] = run_cli_many(
        [["infer", str(root / "p.onnx"), "--inputs", str(tmp_path / "x.npz")]]
    )
    assert result["status"] == 0, result
    lines = result["stdout"].splitlines()
    assert lines[0] == (
        f"{tmp_path / 'x.npz'}: 360 sample(s), input(s) a.f3, b.f2 -> logits [360, 4]"
    )
    assert lines[1].startswith("argmax per class counts: ") and len(lines) == 2
    counts = [
        int(part.split(": ")[1]) for part in lines[1].split(": ", 1)[1].split(", ")
    ]
    assert sum(counts) == 360


def test_bank_inputs_that_do_not_fit_are_one_line(trained, tmp_path):
    root, _, _ = trained
    onnx = str(root / "p.onnx")
    bank = make_planted()
    save_bank(bank.select(["a"]), tmp_path / "only_a.npz")
    save_bank(replace(bank, classes=5), tmp_path / "five.npz")
    np.savez(tmp_path / "x.npz", **{n: bank.features[n][:3] for n in ("a.f3", "b.f2")})
    results = run_cli_many(
        [
            ["infer", onnx, "--inputs", str(tmp_path / "only_a.npz")],
            ["infer", onnx, "--inputs", "nope"],
            ["infer", onnx, "--inputs", "mfeat:nope"],
            ["infer", onnx, "--inputs", str(tmp_path / "x.npz"), "--split", "test"],
            ["infer", onnx, "--inputs", str(tmp_path / "five.npz"), "--split", "val"],
        ]
    )  # fmt: skip
    assert_one_line_error(
        results[0],
        "bmnas infer: error: ",
        "the model takes ['a.f3', 'b.f2']; the bank has no ['b.f2'] (its features: "
        "a.f1, a.f2, a.f3, a.f4)",
    )
    assert_one_line_error(
        results[1],
        "bmnas infer: error: nope: no such file (--inputs takes an .npz of the model's "
        "inputs, a feature bank, or a data set name: mfeat, planted)",
    )
    assert_one_line_error(
        results[2], "bmnas infer: error: ", "mfeat has no view nope (views: fou,"
    )
    usage = results[3]
    assert usage["status"] == 2 and usage["stderr"].startswith("usage: bmnas infer")
    assert "error: --split chooses rows of a feature bank" in usage["stderr"]
    # A bank of other classes is run, but not scored against labels that do not fit.
    assert results[4]["status"] == 0, results[4]
    assert results[4]["stdout"].splitlines()[-1] == (
        "not scored: the model gives 4 logits per sample, the bank has 5 classes"
    )


def test_a_large_bank_runs_in_chunks_with_the_same_logits(trained, monkeypatch):
    root, _, _ = trained
    whole = infer.run_inference(root / "p.onnx", "planted", "cpu", "train")
    monkeypatch.setattr(infer, "CHUNK_ROWS", 7)  # 1800 rows: 258 calls, the last of 1
    pieces = infer.run_inference(root / "p.onnx", "planted", "cpu", "train")
    assert whole.logits.shape == pieces.logits.shape == (1800, 4)
    np.testing.assert_allclose(pieces.logits, whole.logits, atol=1e-5, rtol=1e-5)


def test_a_multilabel_bank_is_scored_with_weighted_f1(tmp_path):
    bank = make_planted(size=300)
    multilabel = replace(
        bank, task="multilabel", labels=np.eye(4, dtype=np.int64)[bank.labels]
    )
    save_bank(multilabel, tmp_path / "ml.npz")
    text = GENOTYPE.replace("classes 4", "classes 4\n    task multilabel")
    api.export_onnx(text, tmp_path / "ml.onnx")
    out = tmp_path / "out.npz"
    [result] = run_cli_many(
        [["infer", str(tmp_path / "ml.onnx"), "--inputs", str(tmp_path / "ml.npz"),
          "--split", "test", "-o", str(out)]]
    )  # fmt: skip
    assert result["status"] == 0, result
    with np.load(out, allow_pickle=False) as arrays:
        logits, predicted = arrays["logits"], arrays["predicted"]
        labels = arrays["labels"]
    assert predicted.dtype == np.int8 and predicted.shape == logits.shape
    np.testing.assert_array_equal(predicted, (logits > 0).astype(np.int8))
    lines = result["stdout"].splitlines()
    mean = predicted.sum(axis=1).mean()
    assert lines[1] == f"predicted labels per sample: {mean:.2f} on average"
    assert lines[2] == (
        f"weighted_f1 against the bank's labels: test {weighted_f1(logits, labels):.4f}"
    )


def test_infer_help_describes_every_option_and_its_default():
    parser = build_parser()
    [commands] = [
        a for a in parser._actions if isinstance(a, argparse._SubParsersAction)
    ]
    infer_parser = commands.choices["infer"]
    assert infer_parser.description and "feature bank" in infer_parser.description
    helps = {}
    for action in infer_parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = action.option_strings[-1] if action.option_strings else action.dest
        assert action.help, f"{name} has no help"
        helps[name] = action.help
    assert set(helps) == {"model", "--inputs", "--split", "--provider", "--output"}
    assert "(default: all)" in helps["--split"]
    assert "(default: auto)" in helps["--provider"]
    for provider in ("cpu", "cuda", "auto"):
        assert f"{provider}" in helps["--provider"]
    assert "mfeat" in helps["--inputs"] and "planted" in helps["--inputs"]


def test_a_bank_directory_is_read_a_chunk_at_a_time_with_the_same_logits(
    trained, tmp_path, monkeypatch
):
    # Issue 14: infer on a memory-mapped bank directory reads only a chunk of rows at
    # a time, and gives what the same data in memory gives.
    from bmnas_dsl.data.convert import convert_bank

    root, _, _ = trained
    directory = convert_bank(make_planted(), tmp_path / "planted.bank")
    memory = infer.run_inference(root / "p.onnx", "planted", "cpu", "test")
    read = []
    chunk = infer._chunk

    def watched(feed, rows, start, stop):
        read.append(stop - start)
        return chunk(feed, rows, start, stop)

    monkeypatch.setattr(infer, "_chunk", watched)
    monkeypatch.setattr(infer, "CHUNK_ROWS", 100)
    mapped = infer.run_inference(root / "p.onnx", str(directory), "cpu", "test")
    assert read == [100] * 6  # the 600 test rows, 100 at a time
    np.testing.assert_array_equal(mapped.rows, memory.rows)
    np.testing.assert_allclose(mapped.logits, memory.logits, atol=1e-5, rtol=1e-5)
