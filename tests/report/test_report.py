"""`bmnas report`: the pipeline summary on a small real run (search → train → export),
its refusal of an ONNX model that does not match the trained weights, and one-line
errors (exit 1) for inputs it cannot summarise."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_bmnas_here

from bmnas_dsl.data.bank import save_bank
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.experiments import ablation
from bmnas_dsl.passes.pipeline import analyse_text
from bmnas_dsl.report.summary import ReportError, search_summary


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
        result = run_bmnas_here(*step)
        assert result.returncode == 0, result.stderr
    return root


def report(
    root: Path,
    onnx: str | Path = "a.onnx",
    search: Path | None = None,
    train: Path | None = None,
    repeats: str = "5",
    output: str = "report",
    *extra: str,
):
    return run_bmnas_here(
        "report",
        *extra,
        "--search-run",
        str(search or root / "search"),
        "--train-run",
        str(train or root / "train"),
        "--onnx",
        str(root / onnx),
        "-o",
        str(root / output),
        "--repeats",
        repeats,
    )


def assert_one_line_error(result, *words: str) -> None:
    """Exit 1 and one line on stderr naming the problem: no traceback, no crash."""
    stderr = result.stderr
    assert result.returncode == 1, (result.returncode, stderr)
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert stderr.count("\n") == 1, stderr
    assert stderr.startswith("bmnas report: error: "), stderr
    for word in words:
        assert word in stderr, (word, stderr)


def best_meta(run: Path) -> dict[str, object]:
    """The meta block of the search's best genotype (run/best.bmg)."""
    frontend = analyse_text((run / "best.bmg").read_text(), str(run / "best.bmg"))
    assert frontend.ok, frontend.render_diagnostics()
    [model] = frontend.tree.models
    return {entry.key: entry.value for block in model.meta for entry in block.entries}


def test_report_summarises_the_pipeline(pipeline):
    result = report(pipeline)
    assert result.returncode == 0, result.stderr
    summary = json.loads((pipeline / "report" / "summary.json").read_text())
    metrics = json.loads((pipeline / "train" / "metrics.json").read_text())
    run = pipeline / "search"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert summary["test"] == metrics["test"]
    assert summary["parameters"] == metrics["parameters"]
    # The best epoch as the search itself recorded it (its own tie rule), not recomputed
    # from the log: the best genotype's meta and the checkpoint's "best".
    meta = best_meta(run)
    best = torch.load(run / "checkpoint.pt", weights_only=True)["best"]
    assert meta["epoch"] == best["epoch"]
    assert summary["search"] == {
        "epochs": len(log),
        "search_seconds": log[-1]["seconds"],  # the run's own record, not a timing
        "best_epoch": best["epoch"],
        "val_metric": best["val_metric"],  # best.json: unrounded, as the search kept it
    }
    assert summary["search"]["val_metric"] == pytest.approx(meta["val_metric"])
    assert summary["onnx"]["test_accuracy"] == metrics["test"]["accuracy"]
    assert summary["onnx"]["same_predictions"] is True
    assert summary["onnx"]["max_abs_logit_diff"] < 1e-4
    for timing in summary["latency"].values():
        assert timing["eager_ms"] > 0 and timing["ort_ms"] > 0
    for row in ("search time", "test accuracy", "ONNX parity", "latency, batch 32"):
        assert row in result.stdout
    markdown = (pipeline / "report" / "report.md").read_text()
    assert "| test accuracy |" in markdown and "```\nbmg 1" in markdown


def test_search_summary_ties_go_to_the_later_epoch(tmp_path):
    # The search keeps a later epoch that ties the best (runner: `>=`).
    entries = [
        {"epoch": 1, "val_metric": 0.5, "seconds": 1.0},
        {"epoch": 2, "val_metric": 0.75, "seconds": 2.0},
        {"epoch": 3, "val_metric": 0.75, "seconds": 3.0},
        {"epoch": 4, "val_metric": 0.625, "seconds": 4.5},
    ]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
    assert search_summary(tmp_path) == {
        "epochs": 4,
        "search_seconds": 4.5,
        "best_epoch": 3,
        "val_metric": 0.75,
    }


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('{"epoch": 1, "val_metric": 0.5}', ["log.jsonl:2:", "no 'seconds'"]),
        ('{"epoch": 1, "val_metric": "0.5", "seconds": 1}', ["'val_metric' is '0.5'"]),
        ('{"epoch": "1", "val_metric": 0.5, "seconds": 1}', ["'epoch' is '1'"]),
        ('{"epoch": 1, "val_metric": NaN, "seconds": 1}', ["'val_metric' is nan"]),
        ('{"epoch": 1, "val_metric": 0.5, "seconds": null}', ["'seconds' is None"]),
        ("[1, 2]", ["not a JSON object"]),
        ("{", ["not JSON"]),
    ],
)
def test_search_summary_refuses_a_malformed_log(tmp_path, line, words):
    good = '{"epoch": 1, "val_metric": 0.5, "seconds": 1.5}'
    (tmp_path / "log.jsonl").write_text(f"{good}\n{line}\n")
    with pytest.raises(ReportError) as caught:
        search_summary(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'log.jsonl'}:2: ") and "\n" not in message
    for word in words:
        assert word in message, message


def test_report_refuses_an_onnx_model_with_other_weights(pipeline):
    # The same genotype exported with fresh (untrained) weights: predictions differ.
    exported = run_bmnas_here(
        "export", str(pipeline / "a.bmg"), "-o", str(pipeline / "untrained.onnx")
    )
    assert exported.returncode == 0, exported.stderr
    result = report(pipeline, "untrained.onnx")
    assert result.returncode == 1
    assert "does not match the trained one" in result.stderr
    assert "Traceback" not in result.stderr


def test_report_of_an_unfinished_run_is_a_clear_error(pipeline, tmp_path):
    result = run_bmnas_here(
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


def test_report_of_a_float64_bank(pipeline, tmp_path):
    # The same bank with float64 features (load_bank keeps them; training casts them):
    # the report feeds float32, as the trainer did, and scores the same.
    with np.load(pipeline / "planted.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    features = [n for n in arrays if n not in ("meta", "labels", "split")]
    wide = {n: a.astype(np.float64) if n in features else a for n, a in arrays.items()}
    np.savez(tmp_path / "wide.npz", **wide)
    train = tmp_path / "train"
    shutil.copytree(pipeline / "train", train)
    settings = json.loads((train / "settings.json").read_text())
    settings["data"] = str(tmp_path / "wide.npz")
    (train / "settings.json").write_text(json.dumps(settings))
    result = report(pipeline, train=train)
    assert result.returncode == 0, result.stderr
    summary = json.loads((pipeline / "report" / "summary.json").read_text())
    metrics = json.loads((train / "metrics.json").read_text())
    assert summary["onnx"]["test_accuracy"] == metrics["test"]["accuracy"]


def test_report_errors_are_one_line(pipeline, tmp_path):
    # A genotype declaring other feature shapes under the same names: its ONNX model
    # loads, then refuses the bank's arrays (an ORT error in session.run).
    text = (pipeline / "a.bmg").read_text()
    wider = re.sub(
        r"^(\s+\w+\s*:\s*\[)(\d+)",
        lambda m: f"{m[1]}{int(m[2]) + 1}",
        text,
        flags=re.MULTILINE,
    )
    assert wider != text
    (tmp_path / "wider.bmg").write_text(wider)
    exported = run_bmnas_here(
        "export", str(tmp_path / "wider.bmg"), "-o", str(tmp_path / "wider.onnx")
    )
    assert exported.returncode == 0, exported.stderr
    # A genotype reading other features.
    (tmp_path / "other.bmg").write_text(other_inputs(text))
    exported = run_bmnas_here(
        "export", str(tmp_path / "other.bmg"), "-o", str(tmp_path / "other.onnx")
    )
    assert exported.returncode == 0, exported.stderr
    cases = [
        (tmp_path / "missing.onnx", ["missing.onnx: no such file"]),
        (tmp_path, ["not a file"]),
        (pipeline / "a.bmg", ["a.bmg: not a loadable ONNX model"]),
        (tmp_path / "wider.onnx", ["wider.onnx: inference failed"]),
        (tmp_path / "other.onnx", ["other.onnx: the model takes the inputs"]),
    ]
    for onnx, words in cases:
        assert_one_line_error(report(pipeline, onnx), *words)
    assert_one_line_error(report(pipeline, repeats="0"), "--repeats must be at least 1")


def other_inputs(text: str) -> str:
    """The genotype with its cells' feature inputs moved to one modality, one that
    changes which features it reads."""
    used = {n for pair in ablation.cell_inputs(text) for n in pair}
    for modality in ("a", "b"):
        pairs = ablation.unimodal_pairs(text, modality)
        if {n for pair in pairs for n in pair} != used:
            return ablation.with_inputs(text, pairs, f"{modality} only")
    raise AssertionError("no variant reads other features")


def test_report_of_a_malformed_search_log(pipeline, tmp_path):
    search = tmp_path / "search"
    shutil.copytree(pipeline / "search", search)
    lines = (search / "log.jsonl").read_text().splitlines()
    entry = json.loads(lines[-1])
    del entry["seconds"]
    (search / "log.jsonl").write_text("\n".join([*lines[:-1], json.dumps(entry)]))
    result = report(pipeline, search=search)
    assert_one_line_error(result, f"log.jsonl:{len(lines)}:", "no 'seconds'")


def test_report_markdown_escapes_pipes_inside_cells():
    # `max |Δlogit|` in a cell would split it into more columns than the header has.
    from bmnas_dsl.report.summary import markdown_table

    table = markdown_table([("ONNX parity", "max |Δlogit| 3.3e-06"), ("a|b", "c")])
    rows = table.splitlines()[2:]
    assert rows == ["| ONNX parity | max \\|Δlogit\\| 3.3e-06 |", "| a\\|b | c |"]
    # Unescaped pipes: each row has exactly the three of its two cells.
    assert all(r.replace("\\|", "").count("|") == 3 for r in rows)


def test_report_times_the_latency_on_the_device_asked_for(pipeline):
    result = report(
        pipeline, "a.onnx", None, None, "3", "cpu_report", "--device", "cpu"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((pipeline / "cpu_report" / "summary.json").read_text())
    assert summary["latency_device"] == "cpu"
    assert "CPUExecutionProvider" in summary["onnx"]["provider"]
    assert re.search(r"latency, batch 1 .*\(\d+\.\d+x, cpu, ORT CPU", result.stdout)


def test_report_device_errors_are_one_line_and_write_nothing(pipeline, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for choice, words in (
        ("cuda", ["--device cuda:"]),
        ("cuda:1", ["--device cuda:1:"]),
        ("gpu", ["--device must be auto, cpu, cuda or"]),
    ):
        result = report(
            pipeline, "a.onnx", None, None, "3", "no_report", "--device", choice
        )
        assert_one_line_error(result, *words)
        assert not (pipeline / "no_report").exists()
    # --device belongs to the pipeline form: with runs to compare it is a usage error.
    mixed = run_bmnas_here("report", str(pipeline / "train"), "--device", "cpu")
    assert mixed.returncode == 2 and "--device" in mixed.stderr, mixed.stderr


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device here: the GPU latency runs in benchmarks/gpu_check.py",
)
def test_report_latency_on_the_gpu(pipeline):  # pragma: no cover - needs a GPU
    result = report(
        pipeline, "a.onnx", None, None, "3", "gpu_report", "--device", "cuda"
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads((pipeline / "gpu_report" / "summary.json").read_text())
    assert summary["latency_device"].startswith("cuda")
