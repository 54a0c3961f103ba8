"""benchmarks/train_step.py, the training step timed eager against torch.compile, on a
small example: the compiled model computes eager's logits, its compile time and the
FLOPs are reported, and the figures land in the JSON."""

from __future__ import annotations

import json

from conftest import load_benchmark


def test_a_compiled_training_step_is_timed_against_eager(monkeypatch, tmp_path, capsys):
    bench = load_benchmark(monkeypatch, "train_step")
    out = tmp_path / "train_step.json"
    argv = ["--example", "sum", "--batch", "8", "--repeats", "2", "--threads", "1"]
    argv += ["--precisions", "fp32", "--compile-modes", "default", "--out", str(out)]
    assert bench.main(argv) == 0
    result = json.loads(out.read_text())
    eager, compiled = result["runners"]["fp32 eager"], result["runners"]["fp32 default"]
    assert eager["compile_seconds"] is None and compiled["compile_seconds"] > 0
    assert eager["speedup_vs_eager"] == 1.0
    assert compiled["step_ms"] > 0 and result["gflop_per_step"] > 0
    assert result["compiled_logits_max_abs_diff"]["fp32 default"] < 1e-5
    assert "fp32 default: logits within" in capsys.readouterr().out


def test_the_end_to_end_benchmark_reads_epoch_times_from_the_log(monkeypatch, tmp_path):
    bench = load_benchmark(monkeypatch, "train_compile")
    log = [{"epoch": 1, "seconds": 20.5}, {"epoch": 2, "seconds": 22.0}]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in log))
    assert bench.epoch_seconds(tmp_path) == [20.5, 1.5]  # the log's are cumulative
    module = load_benchmark(monkeypatch, "train_step").load_example("mmimdb_readme")
    bank = bench.random_bank(module, rows=20, seed=0)
    assert bank.task == "multilabel" and bank.labels.shape == (22, 23)
    assert list(bank.split).count(0) == 20 and list(bank.split).count(2) == 2
