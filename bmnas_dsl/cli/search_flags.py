"""The flags of `bmnas search` that set the search space and its optimisation, and their
translation into `SearchSpace` knobs and `Training` settings. Defaults come from the
settings classes (torch-free): one source of truth, shown in `--help`."""

from __future__ import annotations

import argparse
from typing import Any

from bmnas_dsl.search.settings import RANK_BY, SELECTIONS, Training
from bmnas_dsl.search.space import PAPER_OPS, SearchSpace


def add_knobs(search: argparse.ArgumentParser) -> None:
    """The flags of the search space and of its training, in `--help` order. A new knob
    is a flag here and a field in `space_knobs` or `training_of`."""
    # Defaults come from the settings classes (torch-free): one source of truth.
    searched, space = Training(), SearchSpace(features=(), classes=1)
    search.add_argument("--epochs", type=int, default=searched.epochs)
    search.add_argument("--seed", type=int, default=searched.seed)
    search.add_argument("--cells", type=int, default=space.cells, metavar="N")
    search.add_argument("--steps", type=int, default=space.steps, metavar="M")
    search.add_argument(
        "--node-multiplier", type=int, metavar="K", help="`out` = last K steps"
    )
    search.add_argument("--C", type=int, default=space.C)
    search.add_argument("--L", type=int, default=space.L)
    search.add_argument("--batch-size", type=int, default=searched.batch_size)
    search.add_argument("--dropout", type=float, default=space.dropout)
    search.add_argument(
        "--ops", nargs="+", metavar="OP", help="op pool (default: all five)"
    )
    search.add_argument(
        "--cell-inputs", choices=["any", "features"], default=space.cell_inputs
    )
    search.add_argument("--mixing", choices=["same", "separate"], default=space.mixing)
    search.add_argument(
        "--alternation", choices=["step", "epoch"], default=searched.alternation
    )
    add_optimisation_knobs(search, searched)
    search.add_argument("--threads", type=int, help="torch threads (default: torch's)")


# The optimisers' and the selection's knobs: (flag, type, help); each flag's value is
# the Training field of the same name, its default the field's (docs/search.md).
OPTIMISATION_KNOBS = (
    ("--weight-lr", float, "Adam lr of the weights (cosine-annealed)"),
    ("--weight-lr-min", float, "the weights' final lr"),
    ("--weight-decay", float, "the weights' weight decay"),
    ("--arch-lr", float, "Adam lr of alpha, beta, gamma"),
    ("--arch-weight-decay", float, "their weight decay"),
    ("--warmup-epochs", int, "weights only before the architecture steps"),
    ("--candidates", int, "sample: input assignments scored by the supernet"),
    ("--rerank", int, "sample: best candidates re-trained (0: none)"),
    ("--rerank-epochs", int, "sample: epochs of each re-training"),
    ("--rerank-tail", int, "sample: last epochs averaged per re-training score"),
)


def add_optimisation_knobs(search: argparse.ArgumentParser, t: Training) -> None:
    for flag, kind, text in OPTIMISATION_KNOBS:
        default = getattr(t, _field(flag))
        search.add_argument(
            flag, type=kind, default=default, help=f"{text} (default {default:g})"
        )
    search.add_argument(
        "--selection",
        choices=SELECTIONS,
        default=t.selection,
        help="how the cells' inputs are chosen: sample (sampled pairs, supernet-scored, "
        "re-ranked) or paper (alpha, eq. 3: the released behaviour) "
        f"(default {t.selection})",
    )
    search.add_argument(
        "--rank-by",
        choices=RANK_BY,
        default=t.rank_by,
        help=f"sample: the supernet's ranking key, then the other (default {t.rank_by})",
    )


def _field(flag: str) -> str:
    return flag.removeprefix("--").replace("-", "_")


def space_knobs(args: argparse.Namespace) -> dict[str, Any]:
    """The SearchSpace fields the flags set (the features come from the data)."""
    return {
        "C": args.C,
        "L": args.L,
        "cells": args.cells,
        "steps": args.steps,
        "node_multiplier": args.node_multiplier,
        "ops": tuple(args.ops or PAPER_OPS),
        "cell_inputs": args.cell_inputs,
        "mixing": args.mixing,
        "dropout": args.dropout,
    }


def training_of(args: argparse.Namespace) -> Training:
    knobs = {
        _field(flag): getattr(args, _field(flag)) for flag, _, _ in OPTIMISATION_KNOBS
    }
    return Training(
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        alternation=args.alternation,
        selection=args.selection,
        rank_by=args.rank_by,
        threads=args.threads,
        **knobs,
    )
