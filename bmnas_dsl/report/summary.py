"""`bmnas report --train-run T`: the summary of a (search →) train → export pipeline.

It reads the training run, the ONNX file and, when given, the search run whose genotype
was trained (refused when the training run trained another genotype), and measures what
the runs do not record: ONNX Runtime's predictions on the test split against PyTorch's
(the accuracy must be the same) and eager vs ONNX Runtime latency. It prints a table and
writes summary.json, report.md and the pictures report.md shows (report/pictures.py).
"""

from __future__ import annotations

import copy
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
from bmnas_dsl.backend.runtime import Provider
from bmnas_dsl.backend.weights import load_weights
from bmnas_dsl.data.bank import FeatureBank
from bmnas_dsl.errors import ReportError, TrainError
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.nn.batches import part_rows
from bmnas_dsl.nn.device import resolve_device
from bmnas_dsl.nn.metrics import primary_name, scores
from bmnas_dsl.report.genotypes import analysed, canonical, difference
from bmnas_dsl.report.pictures import (
    ARCHITECTURE_SVG,
    SEARCH_CURVES,
    TRAINING_CURVES,
    draw_pictures,
)
from bmnas_dsl.runs.checks import device as device_problem
from bmnas_dsl.runs.directory import read_genotype
from bmnas_dsl.runs.layout import BEST_GENOTYPE, GENOTYPE, LOG, METRICS, WEIGHTS
from bmnas_dsl.runs.log import read_best, read_log


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


def check_pairing(search_run: Path, train_run: Path, trained: str) -> None:
    """ReportError unless the training run trained the genotype the search run kept
    (the same genotype, comments and layout aside: `genotypes.canonical`): a report
    that combined them would credit one network with another's figures."""
    kept_path = search_run / BEST_GENOTYPE
    try:
        kept = read_genotype(kept_path, ReportError)
    except FileNotFoundError:
        raise ReportError(
            f"{kept_path}: no such file; not a search run directory (or the search "
            "finished no epoch)"
        ) from None
    ours = analysed(trained, train_run / GENOTYPE)
    theirs = analysed(kept, kept_path)
    if canonical(ours) != canonical(theirs):
        raise ReportError(
            f"{train_run} trained a genotype other than the one {search_run} kept "
            f"({train_run / GENOTYPE} vs {kept_path}: {difference(ours, theirs)}); "
            "give the search run that wrote it, or leave --search-run out"
        )


def median_ms(run: Callable[[], Any], repeats: int) -> float:
    run()  # warm-up: first calls allocate
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _synchronised(run: Callable[[], Any], device: torch.device) -> Callable[[], Any]:
    """`run` that returns only when a GPU has finished its work (CUDA calls return
    when the kernels are queued, so an unsynchronised time measures only the launch)."""
    if device.type != "cuda":
        return run

    def call() -> Any:
        result = run()
        torch.cuda.synchronize(device)
        return result

    return call


def _latency(
    model: torch.nn.Module,
    session: Any,
    feeds: dict,
    repeats: int,
    device: torch.device,
) -> dict:
    """Median ms per call at batch 1 and 32, eager on `device` vs ORT on its provider,
    one thread each on the CPU. The inputs are on the device before timing: the figure
    is the model's, not the copy's."""
    result = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model = model if device.type == "cpu" else copy.deepcopy(model).to(device)
    try:
        for batch in (1, 32):
            part = {k: v[:batch] for k, v in feeds.items()}
            tensors = [torch.from_numpy(v).to(device) for v in part.values()]
            with torch.no_grad():
                eager = median_ms(
                    _synchronised(lambda t=tensors: model(*t), device), repeats
                )
            ort = median_ms(lambda p=part: session.run(["logits"], p), repeats)
            result[f"batch {batch}"] = {
                "eager_ms": round(eager, 4),
                "ort_ms": round(ort, 4),
                "speedup": round(eager / ort, 2),
            }
    finally:
        torch.set_num_threads(threads)
    return result


def latency_device(choice: str) -> tuple[torch.device, Provider]:
    """The torch device of the eager latency (`--device`, nn/device.py) and the ONNX
    Runtime provider of the same hardware; ReportError, one line, for a bad choice,
    DeviceError for a device this machine lacks."""
    problem = device_problem(choice)
    if problem:
        raise ReportError(problem)
    device = resolve_device(choice)
    return device, "cuda" if device.type == "cuda" else "cpu"


def _onnx_session(
    onnx_path: Path, names: list[str], train_run: Path, provider: Provider = "auto"
) -> tuple[Any, str]:
    """An ORT session on the model (one thread) and its provider; ReportError, one
    line, for a missing or unloadable file or a model that does not take the trained
    genotype's inputs."""
    try:
        session, provider = open_session(onnx_path, provider, threads=1)
        takes = [i.name for i in session.get_inputs()]
        if sorted(takes) != sorted(names):
            raise ReportError(
                f"{onnx_path}: the model takes the inputs {takes}, the genotype of "
                f"{train_run} reads {names}; was it exported from another "
                "genotype?"
            )
    except InferError as exc:
        raise ReportError(str(exc)) from None
    return session, provider


def _onnx_logits(
    session: Any, onnx_path: Path, feeds: dict[str, np.ndarray]
) -> np.ndarray:
    """The model's logits on the feeds; ReportError, one line, when ORT fails."""
    try:
        [logits] = run_session(session, onnx_path, feeds, ["logits"])
    except InferError as exc:
        raise ReportError(str(exc)) from None
    return logits


def build_report(
    search_run: Path | None,
    train_run: Path,
    onnx_path: Path,
    bank: FeatureBank,
    repeats: int = 200,
    device: str = "auto",
) -> dict[str, Any]:
    """The report's content; `search_run` None for a genotype no search wrote (a
    hand-written one): the search rows are then left out. `device` is where the eager
    latency is timed (ONNX Runtime on the same hardware); the scores are computed on
    the CPU, where `bmnas train` records them."""
    if repeats < 1:
        raise ReportError(f"--repeats must be at least 1, not {repeats}")
    timing_device, provider_choice = latency_device(device)
    genotype = read_genotype(train_run / GENOTYPE, TrainError)
    if search_run is not None:
        check_pairing(search_run, train_run, genotype)
    search = search_summary(search_run) if search_run is not None else None
    trained = _read_json(train_run / METRICS)
    if "test" not in trained:
        raise ReportError(
            f"{train_run}: a --holdout val run has no test metric (compare it with "
            f"other runs: bmnas report {train_run} ...)"
        )
    # Recompiled from the genotype, never imported from the run's model.py: a run
    # directory may come from someone else, and a .py file in it could run any code.
    _, module = compile_genotype(genotype, str(train_run / GENOTYPE))
    model = module.Model()
    load_weights(model, train_run / WEIGHTS)
    model.eval()
    test = bank.indices("test")
    names = [name for name, _ in module.INPUTS]
    # The test split a part at a time (a bank directory stays on disk), as float32, as
    # the Trainer feeds it.
    step = part_rows(bank.shape(name) for name in names)
    parts = [
        {
            name: np.ascontiguousarray(bank.features[name][rows], dtype=np.float32)
            for name in names
        }
        for rows in (test[i : i + step] for i in range(0, len(test), step))
    ]
    session, provider = _onnx_session(onnx_path, names, train_run, provider_choice)
    torch_pieces, ort_pieces = [], []
    for feeds in parts:
        with torch.no_grad():
            tensors = (torch.from_numpy(v) for v in feeds.values())
            torch_pieces.append(model(*tensors).numpy())
        ort_pieces.append(_onnx_logits(session, onnx_path, feeds))
    torch_logits, ort_logits = np.concatenate(torch_pieces), np.concatenate(ort_pieces)
    feeds = parts[0]  # the latency's batches come from the first part
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
        "latency_device": str(timing_device),
        "latency": _latency(model, session, feeds, repeats, timing_device),
        "genotype": genotype,
    }


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    name, search, onnx = report["metric"], report["search"], report["onnx"]
    rows = []
    if search is not None:  # none for a genotype that no given search wrote
        rows += [
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
    where = report.get("latency_device", "cpu")
    for batch, timing in report["latency"].items():
        rows.append(
            (
                f"latency, {batch}",
                f"eager {timing['eager_ms']:.3f} ms, ORT {timing['ort_ms']:.3f} ms "
                f"({timing['speedup']:.2f}x, {where}, ORT {onnx['provider']})",
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


def report_markdown(report: dict[str, Any], pictures: dict[str, bytes]) -> str:
    searched = report["search"] is not None
    stages = "Search → check → compile → train" if searched else "Train"
    parts = [
        "# bmnas pipeline report\n",
        f"{stages} → export → ONNX Runtime on the test split. Latency: median of "
        "repeated calls, one thread each.\n",
        markdown_table(summary_rows(report)),
    ]
    what = "searched" if searched else "trained"
    sections = [
        (ARCHITECTURE_SVG, "Architecture", f"the {what} genotype"),
        (SEARCH_CURVES, "Search curves", "search curves and kept architecture weights"),
        (TRAINING_CURVES, "Training curves", "training curves"),
    ]
    for name, title, alt in sections:
        if name in pictures:
            parts.append(f"## {title}\n\n![{alt}]({name})\n")
    parts.append(f"## Genotype\n\n```\n{report['genotype']}```\n")
    return "\n".join(parts)


def report_pictures(
    report: dict[str, Any], search_run: Path | None, train_run: Path
) -> dict[str, bytes]:
    """The report's pictures (in memory), of the trained genotype and both runs."""
    genotype = train_run / GENOTYPE
    result = analysed(report["genotype"], genotype)
    assert result.pruned is not None
    return draw_pictures(result.pruned, genotype, train_run, search_run)


def write_report(
    report: dict[str, Any], folder: Path, pictures: dict[str, bytes]
) -> None:
    """summary.json, report.md and the pictures, each written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in pictures.items():
        write_atomic(folder / name, data)
    write_atomic(folder / "summary.json", json.dumps(report, indent=2) + "\n")
    write_atomic(folder / "report.md", report_markdown(report, pictures))
