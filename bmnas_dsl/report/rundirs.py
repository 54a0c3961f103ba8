"""The facts `bmnas report` compares, read from run directories: a search run's kept
epoch and validation metric, a training run's held-out score and parameters, and each
one's genotype, seed and data.

Torch-free: a comparison only reads files. A run directory may come from someone else,
so every field used is checked, and anything missing or malformed is one ReportError
naming the file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmnas_dsl.errors import ReportError
from bmnas_dsl.passes.pipeline import Frontend
from bmnas_dsl.report.genotypes import analysed
from bmnas_dsl.runs.directory import read_genotype, run_kind
from bmnas_dsl.runs.layout import BEST_GENOTYPE, GENOTYPE, LOG, METRICS, SETTINGS
from bmnas_dsl.runs.log import is_epoch, is_number, read_best, read_log


@dataclass(frozen=True)
class SearchRun:
    path: Path
    data: str
    data_sha256: str | None
    seed: int | None
    epochs: int  # logged epochs
    seconds: float  # the search's wall time, as its last log line records it
    kept_epoch: int  # best.json (the search's own record), else the log's best
    val_metric: float  # the kept genotype's validation metric
    metric: str  # accuracy or weighted_f1
    genotype: Frontend  # best.bmg


@dataclass(frozen=True)
class TrainingRun:
    path: Path
    data: str
    data_sha256: str | None
    seed: int | None
    holdout: str  # "test" or "val": the split `scores` are on
    epochs: int
    metric: str  # accuracy or weighted_f1
    scores: dict[str, float]  # metrics.json's held-out scores, the primary first
    parameters: int
    genotype: Frontend  # genotype.bmg


def read_json(path: Path, what: str) -> dict[str, Any]:
    """A JSON object; ReportError for a missing or malformed file (`what` says what
    its absence means)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file ({what})") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReportError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: not a JSON object")
    return data


def _genotype(path: Path) -> Frontend:
    try:
        text = read_genotype(path, ReportError)
    except FileNotFoundError:
        raise ReportError(f"{path}: no such file (did the run start?)") from None
    return analysed(text, path)


def _seed(settings: dict[str, Any], key: str) -> int | None:
    block = settings.get(key)
    seed = block.get("seed") if isinstance(block, dict) else None
    return seed if is_epoch(seed) else None  # a non-negative integer, as seeds are


def _text(settings: dict[str, Any], key: str) -> str | None:
    value = settings.get(key)
    return value if isinstance(value, str) else None


def read_search_run(path: Path) -> SearchRun:
    settings = read_json(path / SETTINGS, "not a search run directory")
    log = read_log(path / LOG, ReportError, numbers=("val_metric", "seconds"))
    best = read_best(path, log, ReportError)
    genotype = _genotype(path / BEST_GENOTYPE)
    assert genotype.pruned is not None
    task = genotype.pruned.graph["task"]
    return SearchRun(
        path=path,
        data=_text(settings, "data") or "?",
        data_sha256=_text(settings, "data_sha256"),
        seed=_seed(settings, "training"),
        epochs=len(log),
        seconds=float(log[-1]["seconds"]),
        kept_epoch=best.epoch,
        val_metric=best.val_metric,
        metric="weighted_f1" if task == "multilabel" else "accuracy",
        genotype=genotype,
    )


def read_training_run(path: Path) -> TrainingRun:
    settings = read_json(path / SETTINGS, "not a training run directory")
    metrics = read_json(
        path / METRICS,
        f"the training has not finished; continue it with bmnas train -o {path} "
        "--resume",
    )
    metric = metrics.get("metric")
    holdout = "test" if "test" in metrics else "val"
    scores = metrics.get(holdout)
    if (
        not isinstance(metric, str)
        or not isinstance(scores, dict)
        or not is_number(scores.get(metric))
        or not all(is_number(v) for v in scores.values())
        or not is_epoch(metrics.get("parameters"))
        or not is_epoch(metrics.get("epochs"))
    ):
        raise ReportError(
            f"{path / METRICS}: expected 'metric', 'parameters', 'epochs' and the "
            "scores on 'test' or 'val' (as bmnas train writes them)"
        )
    ordered = {metric: float(scores[metric])}
    ordered.update({k: float(v) for k, v in scores.items() if k != metric})
    return TrainingRun(
        path=path,
        data=_text(settings, "data") or "?",
        data_sha256=_text(settings, "data_sha256"),
        seed=_seed(settings, "settings"),
        holdout=holdout,
        epochs=metrics["epochs"],
        metric=metric,
        scores=ordered,
        parameters=metrics["parameters"],
        genotype=_genotype(path / GENOTYPE),
    )


def read_run(path: Path) -> SearchRun | TrainingRun:
    """The search or training run in `path`, by what the directory holds."""
    if not path.is_dir():
        raise ReportError(f"{path}: no such directory")
    kind = run_kind(path)
    if kind == "search":
        return read_search_run(path)
    if kind == "training":
        return read_training_run(path)
    raise ReportError(
        f"{path}: not a search or training run directory (no {SETTINGS} of either, "
        f"no {GENOTYPE} or {BEST_GENOTYPE})"
    )
