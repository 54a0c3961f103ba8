"""The genotype of a search's current architecture weights, as `.bmg` text."""

from __future__ import annotations

import re
from typing import Any

import torch

from bmnas_dsl.lang.printer import genotype_to_bmg
from bmnas_dsl.search.derive import derive_genotype


def model_name(data: str) -> str:
    """A .bmg identifier naming the searched model after its data set."""
    stem = (
        re.sub(r"[^A-Za-z0-9_]", "_", data.rsplit("/", 1)[-1].split(".")[0]) or "data"
    )
    return f"searched_{stem}"[:64]


def derive_bmg(search: Any, epoch: int, val_metric: float) -> str:
    """Derive (paper eq. 3 and 11) and print with the same printer as `bmnas fmt`.

    `search` is a `bmnas_dsl.search.runner.Search` (its space, training settings, data
    name, seconds and hypernet); typed loosely because the runner calls this module."""
    space, training = search.space, search.training
    with torch.no_grad():
        weights = search.model.cell_weights()
    genotype = derive_genotype(
        weights, len(space.features), space.ops, space.cell_inputs, space.mixing
    )
    meta = {
        "dataset": search.data,
        "data_sha256": search.data_sha256,
        "seed": training.seed,
        "epoch": epoch,
        "val_metric": round(val_metric, 6),
        "metric": "weighted_f1" if space.task == "multilabel" else "accuracy",
        "search_seconds": round(search.seconds, 2),
        "ops": " ".join(space.ops),
        "cell_inputs": space.cell_inputs,
        "mixing": space.mixing,
        "alternation": training.alternation,
        "epochs": training.epochs,
        "first_order": True,
    }
    return genotype_to_bmg(
        genotype,
        model_name=model_name(search.data),
        features=space.features,
        C=space.C,
        L=space.L,
        classes=space.classes,
        task=space.task,
        dropout=float(space.dropout),
        node_multiplier=space.out_steps,
        meta=meta,
    )
