"""Reading a run directory for plots: a search run (`bmnas search`'s settings.json and
log.jsonl) or a training run (`bmnas train`'s log.jsonl, settings.json, metrics.json).

Pure Python. Everything a plot needs is checked here, so a truncated or hand-edited log
gives one clear `VizError` instead of a failure half-way through drawing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bmnas_dsl.errors import VizError
from bmnas_dsl.runs.directory import run_kind
from bmnas_dsl.runs.layout import LOG, METRICS, SETTINGS
from bmnas_dsl.runs.log import MAX_VALUE, is_epoch, is_number, read_best, read_log

CURVES = ("train_loss", "val_loss", "arch_loss")
# A training run logs its held-out metric per epoch only with `--holdout val`, under
# the primary metric's name (nn/metrics.py): val_accuracy or val_weighted_f1.
TRAINING_METRICS = {"val_accuracy": "accuracy", "val_weighted_f1": "weighted F1"}
# One row of heatmaps per cell, one heatmap row per step: beyond these a figure takes
# minutes and gigabytes to draw and nobody could read it.
MAX_CELLS, MAX_STEPS, MAX_PREDECESSORS = 64, 64, 1024


@dataclass(frozen=True)
class CellWeights:
    """Final-epoch architecture weights of one cell, with the names of what they weigh."""

    name: str  # c1, c2, ... as the derived genotype names them
    predecessors: tuple[str, ...]  # nodes of S this cell may read
    alpha: tuple[tuple[str, tuple[float, ...]], ...]  # (mixture, p_identity per node)
    beta: tuple[
        tuple[str, tuple[float, ...]], ...
    ]  # (step[ operand], p per inner node)
    gamma: tuple[tuple[str, tuple[float, ...]], ...]  # (step, p per op)
    ops: tuple[str, ...]


@dataclass(frozen=True)
class Run:
    path: Path
    title: str
    metric: str  # "accuracy" or "weighted F1"
    epochs: tuple[int, ...]
    val_metric: tuple[float, ...]
    losses: dict[str, tuple[float, ...]]  # the curves of CURVES present in every line
    cells: tuple[CellWeights, ...]  # of the kept epoch; empty when none are logged
    best: int  # index of the kept epoch (best.json, else runs.log.best_index)
    # Normalised entropy per epoch of alpha, beta, gamma (1 = uniform), when logged.
    convergence: dict[str, tuple[float, ...]] = field(default_factory=dict)
    # "training": a `bmnas train` run. It keeps its last epoch (`best`), has no
    # architecture weights, and a validation curve only with `--holdout val`
    # (`val_metric` is then empty without one).
    kind: str = "search"
    note: str = ""  # training: the final held-out score of metrics.json, when written


def _vector(value: Any) -> tuple[float, ...]:
    if not isinstance(value, list) or not value or not all(map(is_number, value)):
        raise ValueError(f"expected a list of finite numbers within +-{MAX_VALUE:g}")
    return tuple(float(v) for v in value)


def _settings(run_dir: Path, name: str = SETTINGS) -> dict[str, Any]:
    """settings.json (or another JSON file of the run), or {} when absent or unreadable:
    the plots then use plain numbers for the names (the log alone is enough to draw)."""
    try:
        data = json.loads((run_dir / name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _names(
    space: dict[str, Any], widths: list[int]
) -> tuple[list[list[str]], list[str]]:
    """Predecessor names per cell (features, then earlier cells) and the op pool. Without
    settings, the features are numbered: the first cell reads features only."""
    features = [f[0] for f in space.get("features", []) if isinstance(f, list) and f]
    if not features and widths:
        features = [f"#{i + 1}" for i in range(widths[0])]
    any_input = space.get("cell_inputs", "any") != "features"
    predecessors = [
        features + ([f"c{j + 1}" for j in range(k)] if any_input else [])
        for k in range(len(widths))
    ]
    ops = [str(op) for op in space.get("ops", [])]
    return predecessors, ops


def _fit(names: list[str], count: int, prefix: str) -> tuple[str, ...]:
    """The names when they match the logged vector, else numbered placeholders."""
    if len(names) == count:
        return tuple(names)
    return tuple(f"{prefix}{i + 1}" for i in range(count))


def _lists(record: dict[str, Any], key: str, count: int | None = None) -> list[Any]:
    value = record.get(key)
    if not isinstance(value, list) or (count is not None and len(value) != count):
        raise ValueError(f"{key!r} needs one list per cell")
    return value


def _same_width(rows: list[tuple[str, tuple[float, ...]]], what: str) -> None:
    if len({len(values) for _, values in rows}) > 1:
        raise ValueError(f"{what} rows of different lengths")


def _cells(record: dict[str, Any], space: dict[str, Any]) -> tuple[CellWeights, ...]:
    if all(record.get(key) is None for key in ("alpha", "beta", "gamma")):
        return ()  # a log without weights: curves only
    alpha = _lists(record, "alpha")
    if len(alpha) > MAX_CELLS:
        raise ValueError(
            f"{len(alpha)} cells, more than the {MAX_CELLS} a plot can show"
        )
    beta, gamma = (
        _lists(record, "beta", len(alpha)),
        _lists(record, "gamma", len(alpha)),
    )
    separate = "alpha_y" in record  # --mixing separate logs the second mixtures too
    alpha_y = _lists(record, "alpha_y", len(alpha)) if separate else []
    beta_b = _lists(record, "beta_b", len(alpha)) if separate else []
    predecessors, ops = _names(
        space, [len(a) if isinstance(a, list) else 0 for a in alpha]
    )
    cells = []
    for k, (a, b, g) in enumerate(zip(alpha, beta, gamma, strict=True)):
        if not isinstance(b, list) or not isinstance(g, list) or len(b) != len(g):
            raise ValueError(f"cell {k + 1}: beta and gamma need one entry per step")
        if not b:
            raise ValueError(f"cell {k + 1} has no step")
        if len(b) > MAX_STEPS or (isinstance(a, list) and len(a) > MAX_PREDECESSORS):
            raise ValueError(
                f"cell {k + 1} is too large to plot (at most {MAX_STEPS} steps and "
                f"{MAX_PREDECESSORS} predecessors)"
            )
        mixtures = (
            [("x", _vector(a)), ("y", _vector(alpha_y[k]))]
            if separate
            else [("x, y", _vector(a))]
        )
        betas = [(f"s{i + 1}", _vector(v)) for i, v in enumerate(b)]
        if separate:
            second = beta_b[k]
            betas = [
                row
                for i, v in enumerate(b)
                for row in (
                    (f"s{i + 1} a", _vector(v)),
                    (f"s{i + 1} b", _vector(second[i])),
                )
            ]
        gammas = [(f"s{i + 1}", _vector(v)) for i, v in enumerate(g)]
        _same_width(mixtures, "alpha")
        _same_width(gammas, "gamma")
        cells.append(
            CellWeights(
                name=f"c{k + 1}",
                predecessors=_fit(predecessors[k], len(mixtures[0][1]), "#"),
                alpha=tuple(mixtures),
                beta=tuple(betas),
                gamma=tuple(gammas),
                ops=_fit(ops, len(gammas[0][1]), "op "),
            )
        )
    return tuple(cells)


def read_run(run_dir: str | Path) -> Run:
    """The run's curves (and a search's kept-epoch weights); VizError when they cannot
    be read. A directory holding only a log is read as a search run."""
    path = Path(run_dir)
    log = path / LOG
    if not log.is_file():
        raise VizError(f"{path}: no {LOG}; not a search or training run directory")
    if run_kind(path) == "training":
        return read_training_run(path)
    records = read_log(log, VizError)
    kept = read_best(path, records, VizError).epoch
    best = max(i for i, r in enumerate(records) if r["epoch"] == kept)
    settings = _settings(path)
    space = settings.get("space", {}) if isinstance(settings.get("space"), dict) else {}
    try:  # the heatmaps show the weights of the genotype the search kept
        cells = _cells(records[best], space)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise VizError(
            f"{log}: the kept epoch's alpha/beta/gamma are malformed ({exc})"
        ) from None
    losses = {
        key: tuple(float(r[key]) for r in records)
        for key in CURVES
        if all(is_number(r.get(key)) for r in records)
    }
    data = settings.get("data")
    title = f"search run {path.name}" + (f" · data {data}" if data else "")
    if space.get("cells") and space.get("steps"):
        title += (
            f" · {space['cells']} cells \N{MULTIPLICATION SIGN} {space['steps']} steps"
        )
    return Run(
        path=path,
        title=title,
        metric="weighted F1" if space.get("task") == "multilabel" else "accuracy",
        epochs=tuple(int(r["epoch"]) for r in records),
        val_metric=tuple(float(r["val_metric"]) for r in records),
        losses=losses,
        cells=cells,
        best=best,
        convergence=_convergence(records),
    )


def _convergence(records: list[dict[str, Any]]) -> dict[str, tuple[float, ...]]:
    """Each group's normalised entropy per epoch, for the groups every line logs."""
    series = {}
    for group in ("alpha", "beta", "gamma"):
        values = []
        for record in records:
            figures = record.get("convergence")
            entry = figures.get(group) if isinstance(figures, dict) else None
            value = entry.get("entropy") if isinstance(entry, dict) else None
            if not is_number(value):
                break
            values.append(float(value))
        else:
            series[group] = tuple(values)
    return series


def read_training_run(path: Path) -> Run:
    """A `bmnas train` run: its training loss per epoch and, with `--holdout val`, its
    validation metric per epoch; the note gives metrics.json's final score."""
    log = path / LOG
    records = read_log(log, VizError, numbers=("train_loss",))
    found = [key for key in TRAINING_METRICS if key in records[0]]
    if found:  # then every line must have it, as a number (one located error if not)
        records = read_log(log, VizError, numbers=("train_loss", found[0]))
    settings = _settings(path)
    data, genotype = settings.get("data"), settings.get("genotype")
    title = f"training run {path.name}"
    title += (f" · data {data}" if isinstance(data, str) and data else "") + (
        f" · genotype {genotype}" if isinstance(genotype, str) and genotype else ""
    )
    metric = TRAINING_METRICS[found[0]] if found else "accuracy"
    return Run(
        path=path,
        title=title,
        metric=metric,
        epochs=tuple(int(r["epoch"]) for r in records),
        val_metric=tuple(float(r[found[0]]) for r in records) if found else (),
        losses={"train_loss": tuple(float(r["train_loss"]) for r in records)},
        cells=(),
        best=len(records) - 1,  # training keeps its last epoch, it selects none
        kind="training",
        note=_final_score(path),
    )


def _final_score(path: Path) -> str:
    """`test accuracy 0.8825 after epoch 20 (metrics.json; scored once, at the end)` or
    the like; empty while the run has not finished (or its metrics.json is unreadable)."""
    metrics = _settings(path, METRICS)
    name, epochs = metrics.get("metric"), metrics.get("epochs")
    if not isinstance(name, str) or not is_epoch(epochs):
        return ""
    label = TRAINING_METRICS.get(f"val_{name}", name.replace("_", " "))
    for split, words, how in (
        ("test", "test", "scored once, at the end"),
        ("val", "validation", "no epoch is selected on it"),
    ):
        scores = metrics.get(split)
        value = scores.get(name) if isinstance(scores, dict) else None
        if is_number(value):
            return (
                f"{words} {label} {value:.4f} after epoch {epochs} ({METRICS}; {how})"
            )
    return ""
