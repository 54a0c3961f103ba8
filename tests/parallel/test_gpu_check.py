"""The prepared GPU script (benchmarks/gpu_check.py) in its CPU dry run on a tiny
budget: every part completes and writes its figures, so that a session lent a GPU does
not spend its device time finding a broken script."""

from __future__ import annotations

import json

from conftest import load_benchmark


def test_the_gpu_script_runs_every_part_on_the_cpu(monkeypatch, tmp_path, capsys):
    module = load_benchmark(monkeypatch, "gpu_check")
    out = tmp_path / "gpu_check.json"
    argv = ["--device", "cpu", "--provider", "cpu", "--quick", "--json", str(out)]
    assert module.main(argv) == 0
    report = json.loads(out.read_text())
    timed = [row for row in report["onnx"] if "skipped" not in row]
    assert {row["batch"] for row in timed} >= {1, 32}
    assert all(row["max_abs_diff"] <= 1e-3 for row in timed)
    assert [(run["device"], run["precision"]) for run in report["runs"]] == [
        ("cpu", "fp32")
    ]
    assert set(report["search_step"]["runners"]) == {"ours", "plain", "ours bf16"}
    train = report["train_step"]
    assert set(train["runners"]) == {"fp32 eager", "bf16 eager"}
    assert all(row["step_ms"] > 0 for row in train["runners"].values())
    [planted] = report["planted"]
    assert (planted["device"], planted["precision"]) == ("cpu", "fp32")
    assert planted["recovered"] == "1 of 1"  # a.f3 + b.f2, as the search test finds
    assert [row["features"] for row in report["residency"]] == ["copied per batch"] * 2
    assert set(report["seconds"]) == set(module.PART_NAMES)
    assert "parity within 1e-3: True" in capsys.readouterr().out


def test_the_gpu_script_runs_the_parts_asked_for(monkeypatch, tmp_path):
    module = load_benchmark(monkeypatch, "gpu_check")
    out = tmp_path / "gpu_check.json"
    argv = ["--device", "cpu", "--quick", "--parts", "planted", "--json", str(out)]
    assert module.main(argv) == 0
    report = json.loads(out.read_text())
    assert set(report) == {"machine", "seconds", "planted"}
