"""`bmnas report` of a training run on a bank directory (issue 14): the test split is
read from the memory map a part at a time, and the report's figures agree with the
run's."""

from __future__ import annotations

import json

import pytest
from conftest import run_bmnas_here
from planted_genotypes import PLANTED_PAIR

from bmnas_dsl.data.bank import load_bank
from bmnas_dsl.data.convert import convert_bank
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.nn import batches
from bmnas_dsl.report.summary import build_report

# A fusion of the two planted features (docs/data.md, "planted").
GENOTYPE = PLANTED_PAIR


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A float16 bank directory, a training run on it, its ONNX export and the CLI
    report of both: (folder, the report command's result)."""
    root = tmp_path_factory.mktemp("report_bank_dir")
    bank = convert_bank(make_planted(), root / "planted.bank", dtype="float16")
    genotype = root / "g.bmg"
    genotype.write_text(GENOTYPE)
    run, onnx = root / "run", root / "m.onnx"
    steps = [
        ["train", str(genotype), "--data", str(bank), "-o", str(run), "--epochs", "2"],
        ["export", str(genotype), "--weights", str(run), "-o", str(onnx)],
        ["report", "--train-run", str(run), "--onnx", str(onnx),
         "-o", str(root / "report")],
    ]  # fmt: skip
    for argv in steps:
        result = run_bmnas_here(*argv)
        assert result.returncode == 0, (argv, result.stderr)
    return root, result


def test_report_of_a_run_on_a_bank_directory(trained):
    root, result = trained
    accuracy = json.loads((root / "run" / "metrics.json").read_text())["test"]
    [shown] = [line for line in result.stdout.splitlines() if line.startswith("test ")]
    assert shown.split() == ["test", "accuracy", f"{accuracy['accuracy']:.4f}"]
    assert "(= PyTorch)" in result.stdout


def test_the_report_reads_the_test_split_in_parts(trained, monkeypatch):
    root, _ = trained
    bank = load_bank(root / "planted.bank")
    read = []
    bank.features = {name: Watched(a, read) for name, a in bank.features.items()}
    # 768 bytes a row (two (16, 6) features as float32): 600 test rows in 6 parts.
    monkeypatch.setattr(batches, "EVAL_BYTES", 768 * 100)
    report = build_report(None, root / "run", root / "m.onnx", bank, repeats=1)
    assert read == [100] * 12  # two features, six parts each
    assert report["test"]["accuracy"] == report["onnx"]["test_accuracy"]
    assert report["onnx"]["same_predictions"]


class Watched:
    """A feature array that records how many rows each read takes."""

    def __init__(self, array, read: list[int]) -> None:
        self.array, self.read = array, read
        self.shape, self.dtype = array.shape, array.dtype

    def __getitem__(self, rows):
        self.read.append(len(rows))
        return self.array[rows]
