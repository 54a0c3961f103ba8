"""Which selection rule picks good cell inputs? Judged on VALIDATION only (issue #12).

For each method and seed: `bmnas search` with the method's settings (weights on the
training split, architecture and selection on validation), then the searched genotype,
--random-draws random input selections with the same cells (ablation.random_pairs) and
late fusion, each trained by `bmnas train --holdout val` (fit on train, scored on val
once at the end). Prints a markdown table; writes benchmarks/results/selection_study.json.
Every (method, seed) unit is cached under --out and reused when its settings match.

    python benchmarks/selection_study.py [--data mfeat:fou,fac,kar,pix,zer,mor]
        [--seeds 0 1 2 3 4] [--methods paper sample ...] [--random-draws 3]
        [--train-epochs 20] [--threads 1] [--nested] [--out DIR]

Caveat: with re-ranking, the search itself has already trained its shortlisted
genotypes on train and scored them on val, so a re-ranked method's "searched" figure is
a maximum over its shortlist on the same validation split (optimistic next to Random's
mean). `--nested` removes that bias without touching test: the test rows are dropped,
the validation split is halved, the search selects on the first half, and every row is
fit on train + first half and scored once on the second (paper_tables.py's protocol,
with the second half as test).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from bmnas_dsl.data.bank import FeatureBank
from bmnas_dsl.data.resolve import resolve_data
from bmnas_dsl.experiments import ablation
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.search.runner import Training, run_search, space_for
from bmnas_dsl.train.runner import train_genotype
from bmnas_dsl.train.settings import TrainSettings

REPO = Path(__file__).resolve().parent.parent
SIX_VIEWS = "mfeat:fou,fac,kar,pix,zer,mor"

# What a unit written before a knob existed ran with (the knob's first default).
ADDED = {"rank_by": "metric", "rerank_tail": 1}
# Methods tried (docs/search.md, "Selection"); each is a set of Training overrides.
# FIRST: the sampling selection as first built (ranked by the supernet's val accuracy,
# re-ranked by the final epoch's); "sample-smooth" is what became the default.
FIRST = {"selection": "sample", "rank_by": "metric", "rerank_tail": 1}
METHODS: dict[str, dict[str, Any]] = {
    "paper": {"selection": "paper", **ADDED},  # ADDED: ignored, kept for the record
    "paper-warmup-hilr": {
        **ADDED,
        "selection": "paper",
        "warmup_epochs": 10,
        "arch_lr": 3e-3,
        "arch_weight_decay": 0.0,
    },
    "sample-supernet": {**FIRST, "rerank": 0},
    "sample": {**FIRST, "rerank": 4},
    "sample-rerank8": {**FIRST, "rerank": 8},
    # Less noisy scores: supernet by val loss, re-ranking by the last 5 epochs' mean.
    "sample-smooth": {"selection": "sample", "rank_by": "loss", "rerank_tail": 5},
}


def nested(bank: FeatureBank) -> FeatureBank:
    """The bank without its test rows, validation split in two halves (a fixed
    permutation): the first stays validation, the second plays test. The search then
    selects on the first half and the study's trainings (`--holdout test`: fit on
    train + first half) are scored once on the second, as paper_tables.py scores on
    test, with no test data and no validation row shared by selection and score."""
    keep = np.flatnonzero(bank.split != 2)
    split = bank.split[keep].copy()
    val = np.flatnonzero(split == 1)
    second = np.random.default_rng(0).permutation(val)[len(val) // 2 :]
    split[second] = 2
    return dataclasses.replace(
        bank,
        features={name: values[keep] for name, values in bank.features.items()},
        labels=bank.labels[keep],
        split=split,
        info={**bank.info, "nested": "val halves: val / pseudo-test; test dropped"},
    )


def search(bank: FeatureBank, data: str, training: Training) -> tuple[str, float]:
    """The searched genotype and the search's wall seconds."""
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        with contextlib.redirect_stderr(io.StringIO()):
            text = run_search(
                bank, space_for(bank), training, data, Path(folder), "s.bmg"
            )
        return text, time.perf_counter() - start


def val_score(
    text: str, bank: FeatureBank, data: str, settings: TrainSettings
) -> float:
    with tempfile.TemporaryDirectory() as folder:
        metrics = train_genotype(
            text, bank, settings, folder, data=data, show_progress=False
        )
    return float(metrics[settings.holdout][metrics["metric"]])


def unit(
    bank: FeatureBank,
    data: str,
    training: Training,
    settings: TrainSettings,
    draws: int,
) -> dict[str, Any]:
    """One (method, seed): the searched, random and late-fusion validation scores."""
    text, wall = search(bank, data, training)
    randoms = [
        ablation.with_inputs(
            text,
            ablation.random_pairs(text, ablation.draw_rng(training.seed, d)),
            f"random {training.seed}/{d}",
        )
        for d in range(draws)
    ]
    late = ablation.with_inputs(text, ablation.late_fusion_pairs(text), "late fusion")
    return {
        "seed": training.seed,
        "genotype": ablation.describe(text),
        "search_wall_seconds": round(wall, 2),
        "searched": val_score(text, bank, data, settings),
        "random": [val_score(t, bank, data, settings) for t in randoms],
        "late_fusion": val_score(late, bank, data, settings),
    }


def same_settings(stored: Any, current: dict[str, Any]) -> bool:
    """Whether a unit was computed with `current`; a knob added after the unit was
    written counts as the value it had then (ADDED)."""
    if not isinstance(stored, dict) or not isinstance(stored.get("training"), dict):
        return False
    training = {**ADDED, **stored["training"]}
    return {**stored, "training": training} == current


def cached(path: Path, settings: dict[str, Any], make: Any) -> dict[str, Any]:
    """The unit stored at `path` if it was computed with `settings`, else a new one."""
    if path.exists():
        stored = json.loads(path.read_text())
        if same_settings(stored.get("settings"), settings):
            return stored
    result = {**make(), "settings": settings}
    write_atomic(path, json.dumps(result, indent=2) + "\n")
    return result


def mean_std(values: Sequence[float]) -> str:
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.2f} ± {100 * std:.2f}"


def markdown(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "| method | seed | searched | random (mean) | late fusion | search s | genotype |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for method, units in results.items():
        for u in units:
            lines.append(
                f"| {method} | {u['seed']} | {100 * u['searched']:.2f} | "
                f"{100 * statistics.mean(u['random']):.2f} | "
                f"{100 * u['late_fusion']:.2f} | {u['search_wall_seconds']:.1f} | "
                f"{u['genotype']} |"
            )
    lines += [
        "",
        "| method | searched | random | late fusion | searched - random | wall s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for method, units in results.items():
        searched = [u["searched"] for u in units]
        randoms = [statistics.mean(u["random"]) for u in units]
        late = [u["late_fusion"] for u in units]
        diffs = [s - r for s, r in zip(searched, randoms, strict=True)]
        wall = statistics.mean(u["search_wall_seconds"] for u in units)
        lines.append(
            f"| {method} | {mean_std(searched)} | {mean_std(randoms)} | "
            f"{mean_std(late)} | {mean_std(diffs)} | {wall:.1f} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=SIX_VIEWS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--methods", nargs="+", choices=sorted(METHODS), default=None)
    parser.add_argument("--random-draws", type=int, default=3)
    parser.add_argument("--train-epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--nested",
        action="store_true",
        help="select on one half of val, score on the other (fit on train + first)",
    )
    parser.add_argument("--out", default=str(REPO / "benchmarks/results/selection"))
    parser.add_argument(
        "--json", default=str(REPO / "benchmarks/results/selection_study.json")
    )
    args = parser.parse_args(argv)
    bank = nested(resolve_data(args.data)) if args.nested else resolve_data(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict[str, Any]]] = {}
    for method in args.methods or list(METHODS):
        for seed in args.seeds:
            training = replace(
                Training(seed=seed, threads=args.threads), **METHODS[method]
            )
            settings = TrainSettings(
                epochs=args.train_epochs,
                seed=seed,
                holdout="test" if args.nested else "val",
                threads=args.threads,
            )
            record = {
                "data": args.data,
                **({"nested": True} if args.nested else {}),
                "draws": args.random_draws,
                "training": {**asdict(training), "threads": None},
                "train": {**asdict(settings), "threads": None},
            }
            prefix = "nested-" if args.nested else ""
            stem = args.data.replace(":", "_").replace(",", "-")
            slug = f"{prefix}{stem}-{method}-{seed}"

            def make(t: Training = training, s: TrainSettings = settings) -> Any:
                return unit(bank, args.data, t, s, args.random_draws)

            u = cached(out / f"{slug}.json", record, make)
            results.setdefault(method, []).append(u)
            print(
                f"{method} seed {seed}: searched {u['searched']:.4f} random "
                f"{statistics.mean(u['random']):.4f} late {u['late_fusion']:.4f} "
                f"({u['search_wall_seconds']} s) {u['genotype']}",
                file=sys.stderr,
            )
    text = markdown(results)
    print(text)
    json_path = Path(args.json)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(
        json_path, json.dumps({"data": args.data, "results": results}, indent=2)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
