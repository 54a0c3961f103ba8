"""`bmnas report`: the summary of a search → train → export pipeline.

It reads the search run, the training run and the ONNX file, and measures what the
runs do not record: ONNX Runtime's predictions on the test split against PyTorch's (the
accuracy must be the same) and eager vs ONNX Runtime latency. It prints a table and
writes summary.json and report.md (which shows the pictures `bmnas viz` draws into the
same folder).
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bmnas_dsl.backend.compile import compile_genotype
from bmnas_dsl.backend.export import TOLERANCE
from bmnas_dsl.backend.infer import InferError, open_session, run_session
from bmnas_dsl.backend.weights import load_weights
from bmnas_dsl.data.bank import FeatureBank
from bmnas_dsl.errors import ReportError, TrainError
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.nn.metrics import primary_name, scores
from bmnas_dsl.runs.directory import read_genotype
from bmnas_dsl.runs.layout import GENOTYPE, LOG, METRICS, WEIGHTS
from bmnas_dsl.runs.log import read_best, read_log

ARCHITECTURE = "architecture.svg"
CURVES = "curves.png"


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file (did the run finish?)") from None
    except ValueError as exc:
        raise ReportError(f"{path}: not valid JSON ({exc})") from None


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file (did the run finish?)") from None


def search_summary(run_dir: Path) -> dict[str, Any]:
    """The search's wall time, its kept epoch and validation metric (as the search
    recorded them in best.json); ReportError naming the file for a malformed log."""
    log = read_log(run_dir / LOG, ReportError, numbers=("val_metric", "seconds"))
    best = read_best(run_dir, log, ReportError)
    return {
        "epochs": len(log),
        "search_seconds": log[-1]["seconds"],
        "best_epoch": best.epoch,
        "val_metric": best.val_metric,
    }


def median_ms(run: Callable[[], Any], repeats: int) -> float:
    run()  # warm-up: first calls allocate
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _latency(model: torch.nn.Module, session: Any, feeds: dict, repeats: int) -> dict:
    """Median ms per call at batch 1 and 32, eager vs ORT, each on one thread."""
    result = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for batch in (1, 32):
            part = {k: v[:batch] for k, v in feeds.items()}
            tensors = [torch.from_numpy(v) for v in part.values()]
            with torch.no_grad():
                eager = median_ms(lambda t=tensors: model(*t), repeats)
            ort = median_ms(lambda p=part: session.run(["logits"], p), repeats)
            result[f"batch {batch}"] = {
                "eager_ms": round(eager, 4),
                "ort_ms": round(ort, 4),
                "speedup": round(eager / ort, 2),
            }
    finally:
        torch.set_num_threads(threads)
    return result


def _onnx_logits(
    onnx_path: Path, feeds: dict[str, np.ndarray], train_run: Path
) -> tuple[Any, str, np.ndarray]:
    """An ORT session on the model (one thread), its provider, and its logits on the
    feeds; ReportError, one line, for a missing or unloadable file or a model that
    does not take the trained genotype's inputs."""
    try:
        session, provider = open_session(onnx_path, "auto", threads=1)
        takes = [i.name for i in session.get_inputs()]
        if sorted(takes) != sorted(feeds):
            raise ReportError(
                f"{onnx_path}: the model takes the inputs {takes}, the genotype of "
                f"{train_run} reads {list(feeds)}; was it exported from another "
                "genotype?"
            )
        [logits] = run_session(session, onnx_path, feeds, ["logits"])
    except InferError as exc:
        raise ReportError(str(exc)) from None
    return session, provider, logits


def build_report(
    search_run: Path,
    train_run: Path,
    onnx_path: Path,
    bank: FeatureBank,
    repeats: int = 200,
) -> dict[str, Any]:
    if repeats < 1:
        raise ReportError(f"--repeats must be at least 1, not {repeats}")
    search = search_summary(search_run)
    trained = _read_json(train_run / METRICS)
    if "test" not in trained:
        raise ReportError(f"{train_run}: a --holdout val run has no test metric")
    # Recompiled from the genotype, never imported from the run's model.py: a run
    # directory may come from someone else, and a .py file in it could run any code.
    genotype = read_genotype(train_run / GENOTYPE, TrainError)
    _, module = compile_genotype(genotype, str(train_run / GENOTYPE))
    model = module.Model()
    load_weights(model, train_run / WEIGHTS)
    model.eval()
    test = bank.indices("test")
    # float32 as the Trainer feeds them: a bank may hold float64 features.
    feeds = {
        name: np.ascontiguousarray(bank.features[name][test], dtype=np.float32)
        for name, _ in module.INPUTS
    }
    with torch.no_grad():
        torch_logits = model(*(torch.from_numpy(v) for v in feeds.values())).numpy()
    session, provider, ort_logits = _onnx_logits(onnx_path, feeds, train_run)
    labels = bank.labels[test]
    name = primary_name(bank.task)
    torch_score = scores(bank.task, torch_logits, labels)[name]
    ort_score = scores(bank.task, ort_logits, labels)[name]
    if torch_score != trained["test"][name]:
        raise ReportError(
            f"{train_run}: the saved weights score {torch_score} on test, "
            f"metrics.json says {trained['test'][name]}"
        )
    difference = float(np.max(np.abs(ort_logits - torch_logits)))
    # Equal accuracy alone could be a coincidence: the logits must agree too, with the
    # tolerance `bmnas export` checks with.
    allowed = TOLERANCE * (1 + float(np.max(np.abs(torch_logits))))
    if ort_score != torch_score or not difference <= allowed:
        raise ReportError(
            f"{onnx_path}: ONNX Runtime scores {name} {ort_score} on test (PyTorch "
            f"{torch_score}), max |logit difference| {difference:.3g}; the exported "
            "model does not match the trained one"
        )
    return {
        "task": bank.task,
        "metric": name,
        "search": search,
        "test": trained["test"],
        "parameters": trained["parameters"],
        "train_seconds": trained["train_seconds"],
        "onnx": {
            "provider": provider,
            f"test_{name}": ort_score,
            "max_abs_logit_diff": difference,
            "same_predictions": bool(
                (ort_logits.argmax(1) == torch_logits.argmax(1)).all()
            ),
        },
        "latency": _latency(model, session, feeds, repeats),
        "genotype": genotype,
    }


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    name, search, onnx = report["metric"], report["search"], report["onnx"]
    rows = [
        (
            "search time",
            f"{search['search_seconds']:.1f} s ({search['epochs']} epochs)",
        ),
        (
            f"validation {name} (search)",
            f"{search['val_metric']:.4f} (epoch {search['best_epoch']})",
        ),
    ]
    rows += [(f"test {k}", f"{v:.4f}") for k, v in report["test"].items()]
    rows += [
        ("parameters", f"{report['parameters']:,}"),
        ("training time", f"{report['train_seconds']:.1f} s"),
        (
            "ONNX parity",
            f"test {name} {onnx[f'test_{name}']:.4f} (= PyTorch), "
            f"max |Δlogit| {onnx['max_abs_logit_diff']:.1e}",
        ),
    ]
    for batch, timing in report["latency"].items():
        rows.append(
            (
                f"latency, {batch}",
                f"eager {timing['eager_ms']:.3f} ms, ORT {timing['ort_ms']:.3f} ms "
                f"({timing['speedup']:.2f}x)",
            )
        )
    return rows


def markdown_table(rows: list[tuple[str, str]]) -> str:
    """A two-column markdown table; a `|` inside a cell (`max |Δlogit|`) is escaped, or
    it would split the cell."""

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| | |", "|---|---|"]
    lines += [f"| {cell(key)} | {cell(value)} |" for key, value in rows]
    return "\n".join(lines) + "\n"


def text_table(rows: list[tuple[str, str]]) -> str:
    width = max(len(key) for key, _ in rows)
    return "\n".join(f"{key:<{width}}  {value}" for key, value in rows) + "\n"


def report_markdown(report: dict[str, Any], folder: Path) -> str:
    parts = [
        "# bmnas pipeline report\n",
        "Search → check → compile → train → export → ONNX Runtime on the test split "
        "(`make run`). Latency: median of repeated calls, one thread each.\n",
        markdown_table(summary_rows(report)),
    ]
    if (folder / ARCHITECTURE).exists():
        parts.append(f"## Architecture\n\n![the searched genotype]({ARCHITECTURE})\n")
    if (folder / CURVES).exists():
        parts.append(f"## Search curves\n\n![search curves]({CURVES})\n")
    parts.append(f"## Genotype\n\n```\n{report['genotype']}```\n")
    return "\n".join(parts)


def write_report(report: dict[str, Any], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "summary.json", json.dumps(report, indent=2) + "\n")
    write_atomic(folder / "report.md", report_markdown(report, folder))
