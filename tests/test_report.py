"""`bmnas report`: the pipeline summary on a small real run (search → train → export),
and its refusal of an ONNX model that does not match the trained weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_bmnas

from bmnas_dsl.bank import save_bank
from bmnas_dsl.datasets.planted import make_planted


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("pipeline")
    bank = root / "planted.npz"
    save_bank(make_planted(size=400, seed=2), bank)
    small = ("--threads", "1", "--epochs", "3")
    a, train, data = str(root / "a.bmg"), str(root / "train"), str(bank)
    weights = str(root / "train" / "weights.safetensors")
    space = ("--C", "8", "--L", "2", "--cells", "1", "--steps", "1")
    steps = [
        (
            "search",
            "--data",
            data,
            "-o",
            a,
            "--run-dir",
            str(root / "search"),
            *space,
            *small,
        ),
        ("train", a, "--data", data, "-o", train, *small),
        ("export", a, "-o", str(root / "a.onnx"), "--weights", weights),
    ]
    for step in steps:
        result = run_bmnas(*step)
        assert result.returncode == 0, result.stderr
    return root


def report(root: Path, onnx: str = "a.onnx"):
    return run_bmnas(
        "report",
        "--search-run",
        str(root / "search"),
        "--train-run",
        str(root / "train"),
        "--onnx",
        str(root / onnx),
        "-o",
        str(root / "report"),
        "--repeats",
        "5",
    )


def test_report_summarises_the_pipeline(pipeline):
    result = report(pipeline)
    assert result.returncode == 0, result.stderr
    summary = json.loads((pipeline / "report" / "summary.json").read_text())
    metrics = json.loads((pipeline / "train" / "metrics.json").read_text())
    log = [
        json.loads(line)
        for line in (pipeline / "search" / "log.jsonl").read_text().splitlines()
    ]
    assert summary["test"] == metrics["test"]
    assert summary["parameters"] == metrics["parameters"]
    best = max(reversed(log), key=lambda entry: entry["val_metric"])  # ties: later
    expected = {
        "epochs": len(log),
        "search_seconds": log[-1]["seconds"],  # the run's own record, not a timing
        "best_epoch": best["epoch"],
        "val_metric": best["val_metric"],
    }
    assert summary["search"] == expected
    assert summary["onnx"]["test_accuracy"] == metrics["test"]["accuracy"]
    assert summary["onnx"]["same_predictions"] is True
    assert summary["onnx"]["max_abs_logit_diff"] < 1e-4
    for timing in summary["latency"].values():
        assert timing["eager_ms"] > 0 and timing["ort_ms"] > 0
    for row in ("search time", "test accuracy", "ONNX parity", "latency, batch 32"):
        assert row in result.stdout
    markdown = (pipeline / "report" / "report.md").read_text()
    assert "| test accuracy |" in markdown and "```\nbmg 1" in markdown


def test_report_refuses_an_onnx_model_with_other_weights(pipeline):
    # The same genotype exported with fresh (untrained) weights: predictions differ.
    exported = run_bmnas(
        "export", str(pipeline / "a.bmg"), "-o", str(pipeline / "untrained.onnx")
    )
    assert exported.returncode == 0, exported.stderr
    result = report(pipeline, "untrained.onnx")
    assert result.returncode == 1
    assert "does not match the trained one" in result.stderr
    assert "Traceback" not in result.stderr


def test_report_of_an_unfinished_run_is_a_clear_error(pipeline, tmp_path):
    result = run_bmnas(
        "report",
        "--search-run",
        str(pipeline / "search"),
        "--train-run",
        str(tmp_path),
        "--onnx",
        str(pipeline / "a.onnx"),
        "-o",
        str(tmp_path / "r"),
    )
    assert result.returncode == 1
    assert "not a training run directory" in result.stderr
