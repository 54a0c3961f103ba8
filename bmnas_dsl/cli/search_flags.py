"""The flags of `bmnas search` that set the search space and its optimisation, and their
translation into `SearchSpace` knobs and `Training` settings. Defaults come from the
settings classes (torch-free): one source of truth, shown in `--help`."""

from __future__ import annotations

import argparse
from typing import Any

from bmnas_dsl.cli.knobs import add_device, add_knob, add_precision, add_threads
from bmnas_dsl.lang.names import suggest
from bmnas_dsl.search.settings import RANK_BY, SELECTIONS, Training
from bmnas_dsl.search.space import PAPER_OPS, SearchSpace


def add_knobs(search: argparse.ArgumentParser) -> None:
    """The flags of the search space and of its training, in `--help` order. A new knob
    is a flag here and a field in `space_knobs` or `training_of`."""
    # Defaults come from the settings classes (torch-free): one source of truth.
    t, space = Training(), SearchSpace(features=(), classes=1)
    add_knob(search, "--epochs", type=int, default=t.epochs, help="search epochs")
    add_knob(search, "--seed", type=int, default=t.seed, help="random seed")
    add_knob(
        search, "--cells", type=int, default=space.cells, metavar="N", help="cells"
    )
    add_knob(
        search,
        "--steps",
        type=int,
        default=space.steps,
        metavar="M",
        help="steps per cell",
    )
    add_knob(
        search,
        "--node-multiplier",
        type=int,
        metavar="K",
        default=space.node_multiplier,
        help="a cell's `out` concatenates its last K steps; none: all of them",
    )
    add_knob(search, "--C", type=int, default=space.C, help="channels of every node")
    add_knob(
        search, "--L", type=int, default=space.L, help="tokens of every node (length)"
    )
    add_knob(
        search,
        "--batch-size",
        type=int,
        default=t.batch_size,
        help="rows per step (the global batch, split among torchrun ranks)",
    )
    add_knob(
        search,
        "--dropout",
        type=float,
        default=space.dropout,
        help="dropout before the classifier",
    )
    add_knob(
        search,
        "--ops",
        nargs="+",
        type=op_name,
        metavar="OP",
        default=space.ops,
        help="the step op pool",
    )
    add_knob(
        search,
        "--cell-inputs",
        choices=["any", "features"],
        default=space.cell_inputs,
        help="any: a cell may read features and earlier cells; features: only "
        "features, each once",
    )
    add_knob(
        search,
        "--mixing",
        choices=["same", "separate"],
        default=space.mixing,
        help="one alpha for both inputs of a cell, or one each",
    )
    add_knob(
        search,
        "--alternation",
        choices=["step", "epoch"],
        default=t.alternation,
        help="step: DARTS, one architecture step per weight step; epoch: the "
        "released code, an epoch of each in turn",
    )
    add_optimisation_knobs(search, t)
    add_precision(search, t.precision)
    add_threads(search)
    add_device(search)


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
        add_knob(search, flag, type=kind, default=getattr(t, _field(flag)), help=text)
    add_knob(
        search,
        "--selection",
        choices=SELECTIONS,
        default=t.selection,
        help="how the cells' inputs are chosen: sample (sampled pairs, supernet-scored, "
        "re-ranked) or paper (alpha, eq. 3: the released behaviour)",
    )
    add_knob(
        search,
        "--rank-by",
        choices=RANK_BY,
        default=t.rank_by,
        help="sample: the supernet's ranking key, then the other",
    )


def op_name(text: str) -> str:
    """An op of the pool, or a usage error with the closest name."""
    if text in PAPER_OPS:
        return text
    raise argparse.ArgumentTypeError(
        f"unknown op '{text}' (the ops: {', '.join(PAPER_OPS)})"
        f"{suggest(text, list(PAPER_OPS))}"
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
        "ops": tuple(args.ops),
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
        precision=args.precision,
        threads=args.threads,
        device=args.device or "auto",
        **knobs,
    )
