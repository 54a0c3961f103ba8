"""`bmnas report` of a training run on a bank directory (issue 14): the test split is
read from the memory map a part at a time, and the report's figures agree with the
run's."""

from __future__ import annotations

import json

from conftest import run_bmnas
from planted_genotypes import PLANTED_PAIR

from bmnas_dsl.data.bank import load_bank
from bmnas_dsl.data.convert import convert_bank
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.nn import batches
from bmnas_dsl.report.summary import build_report

# A fusion of the two planted features (docs/data.md, "planted").
GENOTYPE = PLANTED_PAIR


def test_report_of_a_run_on_a_bank_directory(tmp_path):
    bank = convert_bank(make_planted(), tmp_path / "planted.bank", dtype="float16")
    genotype = tmp_path / "g.bmg"
    genotype.write_text(GENOTYPE)
    run = tmp_path / "run"
    steps = [
        ["train", str(genotype), "--data", str(bank), "-o", str(run), "--epochs", "2"],
        ["export", str(genotype), "--weights", str(run), "-o", str(tmp_path / "m.onnx")],
        ["report", "--train-run", str(run), "--onnx", str(tmp_path / "m.onnx"),
         "-o", str(tmp_path / "report")],
    ]  # fmt: skip
    for argv in steps:
        result = run_bmnas(*argv)
        assert result.returncode == 0, (argv, result.stderr)
    trained = json.loads((run / "metrics.json").read_text())["test"]["accuracy"]
    [shown] = [line for line in result.stdout.splitlines() if line.startswith("test ")]
    assert shown.split() == ["test", "accuracy", f"{trained:.4f}"]
    assert "(= PyTorch)" in result.stdout


def test_the_report_reads_the_test_split_in_parts(tmp_path, monkeypatch):
    bank_path = convert_bank(make_planted(), tmp_path / "planted.bank")
    genotype = tmp_path / "g.bmg"
    genotype.write_text(GENOTYPE)
    run, onnx = tmp_path / "run", tmp_path / "m.onnx"
    for argv in (
        [
            "train",
            str(genotype),
            "--data",
            str(bank_path),
            "-o",
            str(run),
            "--epochs",
            "1",
        ],
        ["export", str(genotype), "--weights", str(run), "-o", str(onnx)],
    ):
        assert run_bmnas(*argv).returncode == 0
    bank = load_bank(bank_path)
    read = []
    features = {name: Watched(array, read) for name, array in bank.features.items()}
    bank.features = features
    # 768 bytes a row (two (16, 6) features as float32): 600 test rows in 6 parts.
    monkeypatch.setattr(batches, "EVAL_BYTES", 768 * 100)
    report = build_report(None, run, onnx, bank, repeats=1)
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
