"""The paper's ablations on mfeat (Tables 1-3 unimodal rows, Table 6, Table 7), with
seeds, in one resumable command. Prints markdown tables, writes OUT/tables.md and
benchmarks/results/paper_tables.json.

    python benchmarks/paper_tables.py [--seeds 5] [--random-draws 5] [--threads 1]
        [--search-epochs 30] [--train-epochs E] [--out DIR] [--json PATH] [--quick]

Phases (every finished unit is a JSON file under --out, written atomically; a rerun
reuses it, a killed run redoes only the unit it was in; a unit records its settings, and
one computed with other settings than the current ones is stale and recomputed):

1. Search, per seed s: `bmnas search`'s defaults with seed s (the genotype and the search
   time are kept).
2. Epoch count, on validation only (skipped with --train-epochs): the rows Searched, Sum,
   ConcatFC, MHA, AoA and Late fusion of the first --val-seeds seeds are trained on the
   training split for each count of --epoch-grid and scored on validation at the end;
   the count with the best mean validation accuracy is used (ties: fewer epochs).
   Separate runs per count, not one long run's curve: the learning rate anneals over the
   run's own length, so epoch 30 of an 80-epoch run is not a 30-epoch run.
3. Test, per seed: each row trained on train + val with the chosen epoch count and the
   seed s, scored on test once (bmnas train's evaluation, `holdout="test"`).

Rows (genotype transformations in bmnas_dsl/experiments/ablation.py):
- Table 7 (same inputs, other fusion): every cell's body replaced by Sum, ConcatFC, MHA
  or AoA; Searched is the searched genotype itself.
- Table 6 (same cells, other inputs): Late fusion (every cell reads the pooled vector of
  each backbone); Random (per seed, --random-draws draws, draw d from numpy's
  default_rng([s, d])); Searched (paper derivation): a second search per seed with
  `--selection paper` (the cells' inputs from alpha, eq. 3: the released behaviour),
  its own genotype trained like the others; Searched.
- Unimodal: each backbone's own classifier (test accuracy from the bank, one number) and
  "m only (searched cells)", the searched genotype with its feature inputs moved to
  modality m at the same depth.

Mean ± std over seeds (std with ddof=1); Random over all seeds x draws. "Δ vs Searched"
is the paired difference per seed (Random: the mean of the seed's draws), mean ± std.
One thread by default: on a shared machine OpenMP threads that wait for a busy core make
times erratic, and the results do not depend on it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # unit_pool, beside this file

from unit_pool import Job, unit_pool

from bmnas_dsl.data.bank import FeatureBank
from bmnas_dsl.data.fingerprint import content_hash
from bmnas_dsl.data.resolve import resolve_data
from bmnas_dsl.experiments import ablation
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.report.summary import search_summary
from bmnas_dsl.search.runner import Training, run_search, space_for
from bmnas_dsl.train.runner import train_genotype
from bmnas_dsl.train.settings import TrainSettings

REPO = Path(__file__).resolve().parent.parent
FUSION_ROWS = ("Sum", "ConcatFC", "MHA", "AoA")
SEARCHED, LATE, RANDOM = "Searched", "Late fusion", "Random"
# The same search with the paper's derivation of the cells' inputs from alpha (eq. 3,
# the released behaviour, `--selection paper`): a row of its own in Table 6.
PAPER = "Searched (paper derivation)"
VAL_ROWS = (SEARCHED, *FUSION_ROWS, LATE)  # the rows the epoch count is chosen on
QUICK_SPACE = {"C": 8, "L": 4}  # --quick: the search's smallest sensible network

# Units written before units recorded their settings carry none; they were all computed
# with these defaults (TrainSettings; the search's SearchSpace and Training). Such a unit
# is reused only while the current settings are still these (and its recorded fields
# match), so a later change of a default recomputes it like any other stale unit.
LEGACY_TRAIN = {"batch_size": 64, "lr": 1e-3, "lr_min": 1e-6, "weight_decay": 1e-4}
LEGACY_SPACE = {
    "C": 32,
    "L": 8,
    "cells": 2,
    "steps": 2,
    "node_multiplier": None,
    "ops": ["Zero", "Sum", "Attention", "LinearGLU", "ConcatFC"],
    "cell_inputs": "any",
    "mixing": "same",
    "dropout": 0.1,
}
LEGACY_SEARCH_TRAINING = {
    "batch_size": 64,
    "alternation": "step",
    "weight_lr": 1e-3,
    "weight_lr_min": 1e-6,
    "weight_decay": 3e-4,
    "arch_lr": 3e-4,
    "arch_weight_decay": 1e-3,
    # Knobs added later (issue #12); a unit without settings predates them.
    "warmup_epochs": 0,
    "selection": "paper",
}


@dataclass(frozen=True)
class Config:
    data: str
    seeds: int
    random_draws: int
    search_epochs: int
    train_epochs: int | None  # None: chosen on validation
    epoch_grid: tuple[int, ...]
    val_seeds: int
    threads: int
    quick: bool
    jobs: int = 1  # units computed at once, in worker processes (unit_pool.py)

    @property
    def space_knobs(self) -> dict[str, int]:
        return QUICK_SPACE if self.quick else {}

    @property
    def tag(self) -> str:
        """The folder of everything that depends on the search settings."""
        knobs = "".join(f"-{k}{v}" for k, v in self.space_knobs.items())
        return f"{self.data.replace(':', '_')}-search-e{self.search_epochs}{knobs}"


def slug(row: str) -> str:
    """A row's file name: `Late fusion` -> late-fusion, `Random/3` -> random-3."""
    for old, new in ((" ", "-"), ("/", "-"), ("(", ""), (")", "")):
        row = row.replace(old, new)
    return row.lower()


def only_row(modality: str) -> str:
    return f"{modality} only (searched cells)"


class Store:
    """Finished units as JSON files; counts what was computed and what was reused, and
    how many of the computed units replaced a stale one (other settings or genotype)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.computed = 0
        self.reused = 0
        self.stale = 0
        self.fresh: set[str] = set()  # computed by this run (in parallel, ahead)

    def lookup(
        self, key: str, valid: Callable[[dict[str, Any]], bool]
    ) -> tuple[dict[str, Any] | None, bool]:
        """The stored unit when valid (None otherwise), and whether one was there."""
        path = self.root / f"{key}.json"
        if not path.exists():
            return None, False
        try:
            unit = json.loads(path.read_text())
        except ValueError:  # not written by this script (writes are atomic): redo
            return None, True
        return (unit if valid(unit) else None), True

    def put(self, key: str, unit: dict[str, Any], replaced: bool) -> None:
        path = self.root / f"{key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps(unit, indent=1) + "\n")
        self.computed += 1
        self.stale += replaced
        self.fresh.add(key)

    def get(
        self, key: str, valid: Callable[[dict[str, Any]], bool], make: Callable[[], Any]
    ) -> dict[str, Any]:
        unit, existed = self.lookup(key, valid)
        if unit is not None:
            if key not in self.fresh:  # computed ahead by --jobs: counted there
                self.reused += 1
            return unit
        if existed:
            log(f"  {key}: stale (other settings or genotype), recomputed")
        unit = make()
        self.put(key, unit, existed)
        return unit

    def keep_text(self, key: str, text: str) -> None:
        """Save a genotype for inspection (only when it changed: reruns touch nothing)."""
        path = self.root / key
        if path.exists() and path.read_text() == text:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, text)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- settings ---------------------------------------------------------------------------
def comparable(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings in JSON's types (as a unit stores them) without the thread counts: they
    set how fast a unit is computed, not its result (see above), so units computed
    with another --threads are reused."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "threads"}
        return value

    return strip(json.loads(json.dumps(settings)))


def search_settings(
    bank: FeatureBank, config: Config, seed: int, selection: str | None = None
) -> tuple[Any, Training, dict[str, Any]]:
    """The search space and training of a seed's search (`selection`: other than the
    default's), and the record of both."""
    training = Training(epochs=config.search_epochs, seed=seed, threads=config.threads)
    if selection is not None:
        training = replace(training, selection=selection)
    space = space_for(bank, **config.space_knobs)
    return space, training, {"space": space.to_json(), "training": asdict(training)}


def search_unit_valid(
    unit: dict[str, Any], current: dict[str, Any], config: Config, seed: int
) -> bool:
    """A search unit of this seed, computed with the current settings (`current`:
    search_settings' record); a unit without settings, with the LEGACY defaults."""
    if unit.get("seed") != seed or "genotype" not in unit:
        return False
    stored = unit.get("settings")
    if stored is None:  # older unit: its folder (the tag) fixes epochs and space knobs
        stored = {
            "space": {**current["space"], **LEGACY_SPACE, **config.space_knobs},
            "training": {**current["training"], **LEGACY_SEARCH_TRAINING},
        }
    return isinstance(stored, dict) and comparable(stored) == comparable(current)


def train_unit_valid(unit: dict[str, Any], text: str, settings: TrainSettings) -> bool:
    """A training unit of this genotype, computed with these settings; a unit without
    settings: its own epochs, seed and holdout with the LEGACY defaults."""
    if unit.get("genotype_sha256") != sha(text):
        return False
    current = asdict(settings)
    stored = unit.get("settings")
    if stored is None:
        stored = {
            **current,
            **LEGACY_TRAIN,
            **{k: unit.get(k) for k in ("epochs", "seed", "holdout")},
        }
    return isinstance(stored, dict) and comparable(stored) == comparable(current)


# -- units ----------------------------------------------------------------------------
def search_unit(
    bank: FeatureBank, config: Config, seed: int, selection: str | None = None
) -> dict[str, Any]:
    space, training, settings = search_settings(bank, config, seed, selection)
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        # The search reports every epoch on stderr; this driver prints one line per unit.
        with contextlib.redirect_stderr(io.StringIO()):
            text = run_search(bank, space, training, config.data, Path(folder), "s.bmg")
        wall = time.perf_counter() - start
        search = search_summary(Path(folder))  # best epoch: ties to the later one
    return {
        "seed": seed,
        "genotype": text,
        # The whole search (every epoch's updates and validation), the paper's "search
        # cost"; the genotype's meta search_seconds stops at its own epoch.
        "search_seconds": search["search_seconds"],
        "wall_seconds": round(wall, 3),
        "best_epoch": search["best_epoch"],
        "hypernet_val_accuracy": search["val_metric"],
        "settings": settings,
    }


_HASHES: dict[int, tuple[FeatureBank, str]] = {}


def bank_hash(bank: FeatureBank) -> str:
    """The bank's content hash, computed once per bank object (one run trains a
    hundred units on the same bank; the bank is never changed after loading)."""
    kept = _HASHES.get(id(bank))
    if kept is None or kept[0] is not bank:
        kept = _HASHES[id(bank)] = (bank, content_hash(bank))
    return kept[1]


def train_unit(
    text: str, bank: FeatureBank, config: Config, settings: TrainSettings, name: str
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        metrics = train_genotype(
            text,
            bank,
            settings,
            folder,
            name=f"{slug(name)}.bmg",
            data=config.data,
            show_progress=False,
            data_sha256=bank_hash(bank),
        )
        lines = (Path(folder) / "log.jsonl").read_text().splitlines()
    split, metric = settings.holdout, metrics["metric"]
    unit = {
        "row": name,
        "seed": settings.seed,
        "holdout": split,
        "epochs": settings.epochs,
        "metric": metric,
        "score": metrics[split][metric],
        "parameters": metrics["parameters"],
        "train_seconds": metrics["train_seconds"],
        "genotype_sha256": sha(text),
        "settings": asdict(settings),
    }
    if split == "val":  # the per-epoch validation curve, for the record
        unit["curve"] = [json.loads(line)[f"val_{metric}"] for line in lines]
    return unit


class TrainUnit(NamedTuple):
    """One training of the experiment: where it is stored, what and how it trains."""

    key: str
    text: str
    settings: TrainSettings
    name: str  # the table row


def val_units(
    config: Config, bank: FeatureBank, searches: dict[int, dict]
) -> list[TrainUnit]:
    """Phase 2's trainings: each epoch count of the grid, on validation."""
    units = []
    for epochs in config.epoch_grid:
        for seed in range(min(config.val_seeds, config.seeds)):
            rows = variants(searches[seed]["genotype"], bank, seed, 0)
            settings = TrainSettings(
                epochs=epochs, seed=seed, threads=config.threads, holdout="val"
            )
            for row in VAL_ROWS:
                key = f"{config.tag}/val-e{epochs}/s{seed}/{slug(row)}"
                units.append(TrainUnit(key, rows[row], settings, row))
    return units


def test_units(
    config: Config,
    bank: FeatureBank,
    searches: dict[int, dict],
    paper: dict[int, dict],
    epochs: int,
) -> list[TrainUnit]:
    """Phase 3's trainings: every row of every seed, scored once on test."""
    units = []
    for seed in range(config.seeds):
        rows = variants(searches[seed]["genotype"], bank, seed, config.random_draws)
        rows[PAPER] = paper[seed]["genotype"]
        settings = TrainSettings(
            epochs=epochs, seed=seed, threads=config.threads, holdout="test"
        )
        for row, text in rows.items():
            key = f"{config.tag}/test-e{epochs}/s{seed}/{slug(row)}"
            units.append(TrainUnit(key, text, settings, row))
    return units


def trained(
    store: Store,
    key: str,
    text: str,
    settings: TrainSettings,
    name: str,
    bank: FeatureBank,
    config: Config,
) -> dict[str, Any]:
    """A training unit, reused when the same genotype was trained with the same
    settings (a redone search changes the variants' text, so they are retrained)."""
    store.keep_text(f"{key}.bmg", text)

    def valid(unit: dict[str, Any]) -> bool:
        return train_unit_valid(unit, text, settings)

    def make() -> dict[str, Any]:
        unit = train_unit(text, bank, config, settings, name)
        log(
            f"  {key}: {unit['metric']} {unit['score']:.4f} ({unit['train_seconds']} s)"
        )
        return unit

    return store.get(key, valid, make)


# -- variants -------------------------------------------------------------------------
def modalities(bank: FeatureBank) -> list[str]:
    return list(dict.fromkeys(name.split(".")[0] for name in bank.features))


def variants(searched: str, bank: FeatureBank, seed: int, draws: int) -> dict[str, str]:
    """Every row's genotype for one seed; Random draws are `Random/d`."""
    rows = {SEARCHED: searched}
    for fusion in FUSION_ROWS:
        rows[fusion] = ablation.with_fusion(searched, fusion)
    rows[LATE] = ablation.with_inputs(
        searched, ablation.late_fusion_pairs(searched), "late fusion"
    )
    for draw in range(draws):
        pairs = ablation.random_pairs(searched, ablation.draw_rng(seed, draw))
        rows[f"{RANDOM}/{draw}"] = ablation.with_inputs(
            searched, pairs, f"random {seed}/{draw}"
        )
    for modality in modalities(bank):
        pairs = ablation.unimodal_pairs(searched, modality)
        rows[only_row(modality)] = ablation.with_inputs(
            searched, pairs, f"{modality} only"
        )
    return rows


# -- the experiment -------------------------------------------------------------------
def choose_epochs(
    store: Store, bank: FeatureBank, config: Config, searches: dict[int, dict]
) -> dict[str, Any]:
    """Phase 2: the epoch count with the best mean validation accuracy."""
    if config.train_epochs is not None:
        return {"chosen": config.train_epochs, "source": "given (--train-epochs)"}
    log(f"choosing the epoch count on validation: grid {list(config.epoch_grid)}")
    per_count: dict[int, list[float]] = {e: [] for e in config.epoch_grid}
    seconds = 0.0
    curves: list[list[float]] = []
    for unit_spec in val_units(config, bank, searches):
        unit = trained(store, *unit_spec, bank, config)
        epochs = unit_spec.settings.epochs
        per_count[epochs].append(unit["score"])
        seconds += unit["train_seconds"]
        if epochs == max(config.epoch_grid):
            curves.append(unit["curve"])
    table = {e: summary(v) for e, v in per_count.items()}
    # Best mean; ties to fewer epochs (cheaper, and nothing says more is better).
    chosen = max(config.epoch_grid, key=lambda e: (table[e]["mean"], -e))
    length = max(config.epoch_grid)
    curve = [statistics.fmean(c[i] for c in curves) for i in range(length)]
    return {
        "chosen": chosen,
        "source": "validation",
        "rows": list(VAL_ROWS),
        "seeds": list(range(min(config.val_seeds, config.seeds))),
        "grid": {str(e): table[e] for e in config.epoch_grid},
        "curve_of_longest": [round(v, 5) for v in curve],
        "train_seconds_total": round(seconds, 1),
    }


def summary(values: Sequence[float]) -> dict[str, Any]:
    return {
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else None,  # ddof = 1
        "n": len(values),
    }


def run(config: Config, out: Path) -> dict[str, Any]:
    torch.set_num_threads(config.threads)
    bank = resolve_data(config.data)
    store = Store(out)
    with unit_pool(config) as pool:
        return run_phases(config, bank, store, pool)


def run_phases(
    config: Config, bank: FeatureBank, store: Store, pool: Any
) -> dict[str, Any]:
    """The three phases; with --jobs N, `pool` computes each phase's independent units
    N at a time before the serial pass over them (which then reuses them all)."""
    pool.fill(
        store,
        [
            search_job(bank, config, seed, selection)
            for selection in (None, "paper")
            for seed in range(config.seeds)
        ],
    )
    searches = {s: searched_unit(store, bank, config, s) for s in range(config.seeds)}
    paper = {
        s: searched_unit(store, bank, config, s, "paper") for s in range(config.seeds)
    }
    if config.train_epochs is None:
        pool.fill(store, [train_job(u) for u in val_units(config, bank, searches)])
    epochs = choose_epochs(store, bank, config, searches)
    log(f"training epochs: {epochs['chosen']} ({epochs['source']})")
    results: dict[str, dict[int, list[dict[str, Any]]]] = {}
    tests = test_units(config, bank, searches, paper, epochs["chosen"])
    pool.fill(store, [train_job(u) for u in tests])
    for unit_spec in tests:
        unit = trained(store, *unit_spec, bank, config)
        seed, row = unit_spec.settings.seed, unit_spec.name
        results.setdefault(row.split("/")[0], {}).setdefault(seed, []).append(unit)
    report = summarise(config, bank, searches, epochs, results)
    report["search"]["paper_per_seed"] = [
        {"seed": s, "cells": ablation.describe(u["genotype"])}
        for s, u in sorted(paper.items())
    ]
    report["units"] = {
        "computed": store.computed,
        "reused": store.reused,
        "stale": store.stale,
    }
    # What the units cost when computed (the same on a rerun that reuses them all):
    # search epochs with set-up, and training epochs (compilation not included).
    test_seconds = sum(
        u["train_seconds"] for r in results.values() for us in r.values() for u in us
    )
    report["unit_seconds"] = {
        "search": round(sum(u["wall_seconds"] for u in searches.values()), 1),
        "search_paper_derivation": round(
            sum(u["wall_seconds"] for u in paper.values()), 1
        ),
        "choose_epochs_training": epochs.get("train_seconds_total", 0.0),
        "test_training": round(test_seconds, 1),
    }
    return report


def searched_unit(
    store: Store,
    bank: FeatureBank,
    config: Config,
    seed: int,
    selection: str | None = None,
) -> dict[str, Any]:
    """The search of one seed (with `selection`, other than the default's), reused
    when a unit with the same settings exists."""
    key, valid = search_key(bank, config, seed, selection)

    def make() -> dict[str, Any]:
        unit = search_unit(bank, config, seed, selection)
        log(f"  {key}: {unit['search_seconds']:.1f} s")
        return unit

    return store.get(key, valid, make)


def search_key(
    bank: FeatureBank, config: Config, seed: int, selection: str | None
) -> tuple[str, Callable[[dict[str, Any]], bool]]:
    """Where a search unit is stored, and the test of a stored one."""
    folder = "search" if selection is None else f"search-{selection}"
    current = search_settings(bank, config, seed, selection)[2]
    return f"{config.tag}/{folder}/s{seed}", lambda u: search_unit_valid(
        u, current, config, seed
    )


def search_job(
    bank: FeatureBank, config: Config, seed: int, selection: str | None
) -> Job:
    key, valid = search_key(bank, config, seed, selection)
    return Job(key, valid, ("search", seed, selection))


def train_job(unit: TrainUnit) -> Job:
    return Job(
        unit.key,
        lambda u: train_unit_valid(u, unit.text, unit.settings),
        ("train", unit.text, unit.settings, unit.name),
    )


# -- summaries and tables -------------------------------------------------------------
def row_summary(
    per_seed: dict[int, list[dict[str, Any]]], searched: dict[int, float]
) -> dict[str, Any]:
    values = [u["score"] for units in per_seed.values() for u in units]
    seed_means = {
        s: statistics.fmean(u["score"] for u in us) for s, us in per_seed.items()
    }
    deltas = [seed_means[s] - searched[s] for s in sorted(seed_means)]
    params = [u["parameters"] for units in per_seed.values() for u in units]
    seconds = [u["train_seconds"] for units in per_seed.values() for u in units]
    return {
        **summary(values),
        "values": values,
        "delta_vs_searched": summary(deltas),
        "parameters": statistics.fmean(params),
        "parameters_values": params,
        "train_seconds": summary(seconds),
    }


def summarise(
    config: Config,
    bank: FeatureBank,
    searches: dict[int, dict[str, Any]],
    epochs: dict[str, Any],
    results: dict[str, dict[int, list[dict[str, Any]]]],
) -> dict[str, Any]:
    searched = {s: us[0]["score"] for s, us in results[SEARCHED].items()}
    rows = {name: row_summary(per_seed, searched) for name, per_seed in results.items()}
    backbones = {
        m: b.get("test_accuracy")
        for m, b in (bank.info.get("backbones") or {}).items()
        if isinstance(b, dict)
    }
    per_seed = [
        {
            "seed": s,
            "cells": ablation.describe(u["genotype"]),
            "hypernet_val_accuracy": u["hypernet_val_accuracy"],
            "search_seconds": u["search_seconds"],
            "searched_test_accuracy": searched[s],
            "modalities_read": sorted(
                {
                    name.split(".")[0]
                    for pair in ablation.cell_inputs(u["genotype"])
                    for name in pair
                    if name in bank.features
                }
            ),
        }
        for s, u in sorted(searches.items())
    ]
    return {
        "config": {
            "data": config.data,
            "seeds": config.seeds,
            "random_draws": config.random_draws,
            "search_epochs": config.search_epochs,
            "search_space": config.space_knobs or "bmnas search defaults",
            "threads": config.threads,
            "quick": config.quick,
        },
        "machine": machine(),
        "metric": results[SEARCHED][0][0]["metric"],
        "epochs": epochs,
        "search": {
            "seconds": summary([u["search_seconds"] for u in searches.values()]),
            "wall_seconds": summary([u["wall_seconds"] for u in searches.values()]),
            "per_seed": per_seed,
        },
        "modalities": modalities(bank),
        "backbones": backbones,
        "rows": rows,
    }


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def mean_std(s: dict[str, Any]) -> str:
    text = pct(s["mean"])
    return text if s["std"] is None else f"{text} ± {pct(s['std'])}"


def delta(s: dict[str, Any]) -> str:
    sign = "+" if s["mean"] >= 0 else "-"
    text = f"{sign}{pct(abs(s['mean']))}"
    return text if s["std"] is None else f"{text} ± {pct(s['std'])}"


def table(header: Sequence[str], lines: Sequence[Sequence[str]], left: int = 1) -> str:
    """A markdown table; the first `left` columns are text, the others numbers."""
    aligns = ["---"] * left + ["---:"] * (len(header) - left)
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(aligns) + " |"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


def markdown(report: dict[str, Any]) -> str:
    rows, seeds = report["rows"], report["config"]["seeds"]
    epochs = report["epochs"]
    metric = report["metric"]
    n = f"{seeds} seed{'s' if seeds != 1 else ''}"

    def line(name: str, extra: Sequence[str] = (), label: str = "") -> list[str]:
        r = rows[name]
        d = "—" if name == SEARCHED else delta(r["delta_vs_searched"])
        return [label or name, *extra, mean_std(r), d, f"{r['parameters']:,.0f}"]

    acc = f"test {metric} (%)"
    head = ["", acc, "Δ vs Searched", "parameters"]
    mods = report["modalities"]
    uni = [
        [f"{m} backbone (own classifier)", m, pct(report["backbones"].get(m)), "—", "—"]
        for m in report["backbones"]
    ]
    uni += [line(only_row(m), [m]) for m in mods]
    uni.append(line(SEARCHED, [" + ".join(mods)]))
    random = rows[RANDOM]
    draws = report["config"]["random_draws"]
    t6 = [
        line(RANDOM, label=f"Random ({seeds} seeds x {draws} draws)"),
        line(LATE),
        line(PAPER),
        line(SEARCHED),
    ]
    search = report["search"]
    cost = [
        ["search (all epochs)", mean_std_seconds(search["seconds"])],
        ["search (wall, with set-up)", mean_std_seconds(search["wall_seconds"])],
        [
            f"training Searched ({epochs['chosen']} epochs, train + val)",
            mean_std_seconds(rows[SEARCHED]["train_seconds"]),
        ],
    ]
    genos = [
        [
            str(p["seed"]),
            p["cells"],
            " + ".join(p["modalities_read"]),
            pct(p["hypernet_val_accuracy"]),
            pct(p["searched_test_accuracy"]),
            f"{p['search_seconds']:.1f}",
        ]
        for p in search["per_seed"]
    ]
    parts = [
        f"Mean ± std over {n} (std with ddof = 1); Random over all seeds x draws "
        f"({random['n']} runs). Δ vs Searched: paired difference per seed, mean ± std. "
        "Parameters: mean over the runs.",
        "",
        "**Unimodal and multimodal (paper Tables 1-3)**",
        "",
        table(["", "modality", acc, "Δ vs Searched", "parameters"], uni, left=2),
        "",
        "**Fusion strategy, same feature selection (paper Table 7)**",
        "",
        table(head, [line(r) for r in (*FUSION_ROWS, SEARCHED)]),
        "",
        "**Feature selection, same fusion cells (paper Table 6)**",
        "",
        table(head, t6),
        "",
        "**Search cost (seconds, mean ± std over seeds)**",
        "",
        table(["", "seconds"], cost),
        "",
        "**Searched genotypes** (the default search; the paper derivation's below)",
        "",
        table(
            [
                "seed",
                "cells (inputs): ops",
                "modalities read",
                "hypernet val (%)",
                f"Searched test {metric} (%)",
                "search s",
            ],
            genos,
            left=3,
        ),
        "",
        table(
            ["seed", f"{PAPER}: cells (inputs): ops"],
            [[str(p["seed"]), p["cells"]] for p in search.get("paper_per_seed", [])],
            left=2,
        ),
        "",
        f"**Training epochs: {epochs['chosen']}** ({epochs['source']})",
    ]
    if "grid" in epochs:
        grid = [
            [e, mean_std(s), str(s["n"])]
            for e, s in sorted(epochs["grid"].items(), key=_num)
        ]
        parts += [
            "",
            f"Mean validation {metric} of rows {', '.join(epochs['rows'])} on seeds "
            f"{', '.join(map(str, epochs['seeds']))}, trained on the training split "
            "only, one run per epoch count:",
            "",
            table(["epochs", f"val {metric} (%)", "runs"], grid),
        ]
    return "\n".join(parts) + "\n"


def _num(item: tuple[str, Any]) -> int:
    return int(item[0])


def mean_std_seconds(s: dict[str, Any]) -> str:
    return f"{s['mean']:.1f}" + ("" if s["std"] is None else f" ± {s['std']:.1f}")


# -- command line ---------------------------------------------------------------------
def positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def epoch_grid(text: str) -> tuple[int, ...]:
    """An argparse type: comma-separated epoch counts, each at least 1."""
    return tuple(sorted({positive(part.strip()) for part in text.split(",")}))


def default(value: Any, otherwise: Any) -> Any:
    return otherwise if value is None else value


def parse_config(argv: Sequence[str] | None) -> tuple[Config, Path, Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="mfeat")
    parser.add_argument(
        "--seeds", type=positive, help="seeds 0..N-1 (default 5; quick 1)"
    )
    parser.add_argument(
        "--random-draws", type=positive, help="per seed (default 5; quick 1)"
    )
    parser.add_argument("--search-epochs", type=positive, help="default 30; quick 2")
    parser.add_argument(
        "--train-epochs", type=positive, help="skip the choice on validation; use this"
    )
    parser.add_argument(
        "--epoch-grid",
        type=epoch_grid,
        help="counts tried on validation (default 10,20,...,80; quick 1,2)",
    )
    parser.add_argument(
        "--val-seeds", type=positive, default=2, help="seeds of the choice (default 2)"
    )
    parser.add_argument("--threads", type=positive, default=1, help="per unit")
    parser.add_argument(
        "--jobs",
        type=positive,
        default=1,
        help="units computed at once, each in its own process with --threads threads "
        "(keep jobs x threads <= cores); the tables are those of --jobs 1",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks/results/paper_tables"
    )
    parser.add_argument(
        "--json", type=Path, default=REPO / "benchmarks/results/paper_tables.json"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny budget (the test's): search C = 8, L = 4, 2 epochs; 1 seed, 1 draw",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    grid = (1, 2) if quick else (10, 20, 30, 40, 50, 60, 70, 80)
    config = Config(
        data=args.data,
        seeds=default(args.seeds, 1 if quick else 5),
        random_draws=default(args.random_draws, 1 if quick else 5),
        search_epochs=default(args.search_epochs, 2 if quick else Training().epochs),
        train_epochs=args.train_epochs,
        epoch_grid=default(args.epoch_grid, grid),
        val_seeds=args.val_seeds,
        threads=args.threads,
        quick=quick,
        jobs=args.jobs,
    )
    return config, args.out, args.json


def main(argv: Sequence[str] | None = None) -> int:
    config, out, json_path = parse_config(argv)
    start = time.perf_counter()
    report = run(config, out)
    report["wall_seconds"] = round(time.perf_counter() - start, 1)
    given = sys.argv[1:] if argv is None else list(argv)
    report = {
        "command": " ".join(["python benchmarks/paper_tables.py", *given]),
        **report,
    }
    text = markdown(report)
    print(text)
    units = report["units"]
    print(
        f"units: {units['computed']} computed, {units['reused']} reused "
        f"({units['stale']} of the computed replaced stale units: other settings or "
        "genotype)"
    )
    write_atomic(out / "tables.md", text)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(json_path, json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
