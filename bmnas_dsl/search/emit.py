"""The genotype of a search's current architecture weights, as `.bmg` text."""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any

import torch

from bmnas_dsl.lang.printer import Genotype, MetaValue, genotype_to_bmg
from bmnas_dsl.parallel.collectives import shared_out
from bmnas_dsl.passes.validate import DECLARES_ALL_FEATURES
from bmnas_dsl.runs.checks import MACHINE_SETTINGS
from bmnas_dsl.search import select
from bmnas_dsl.search.derive import derive_genotype

# `search` below is a bmnas_dsl.search.runner.Search (its space, training settings, data
# name and hash, seconds, hypernet, validation batch and score); typed loosely because
# the runner imports this module.
Search = Any

# Training fields that are not knobs of the result (how fast, not what; the seed, epochs
# and alternation have meta entries of their own).
_NOT_META = (*MACHINE_SETTINGS, "seed", "epochs", "alternation")


def model_name(data: str) -> str:
    """A .bmg identifier naming the searched model after its data set."""
    stem = (
        re.sub(r"[^A-Za-z0-9_]", "_", data.rsplit("/", 1)[-1].split(".")[0]) or "data"
    )
    return f"searched_{stem}"[:64]


def with_pairs(genotype: Genotype, pairs: select.Pairs | None) -> Genotype:
    """The genotype with cell k reading pairs[k] (the cell bodies unchanged)."""
    if pairs is None:
        return genotype
    cells = tuple(
        dataclasses.replace(cell, x=x, y=y)
        for cell, (x, y) in zip(genotype.cells, pairs, strict=True)
    )
    return Genotype(cells=cells)


def derive_bmg(
    search: Search,
    epoch: int,
    val_metric: float,
    pairs: select.Pairs | None = None,
    extra: dict[str, MetaValue] | None = None,
    seconds: float | None = None,
) -> str:
    """Derive (paper eq. 3 and 11) and print with the same printer as `bmnas fmt`;
    with `pairs`, the cells read those inputs instead of alpha's (the bodies still
    come from beta and gamma). The text declares every feature of the data and marks
    it so (`declares_all_features = true`): it checks clean."""
    space, training = search.space, search.training
    with torch.no_grad():
        weights = search.model.cell_weights()
    genotype = derive_genotype(
        weights, len(space.features), space.ops, space.cell_inputs, space.mixing
    )
    knobs = {
        k: v for k, v in dataclasses.asdict(training).items() if k not in _NOT_META
    }
    meta: dict[str, MetaValue] = {
        "dataset": search.data,
        "data_sha256": search.data_sha256,
        # Every feature of the data is declared (the search space: node indices, hand
        # edits and the ablations' random and unimodal inputs draw on it); this says so,
        # and `bmnas check` does not warn (W004) about the ones the cells do not read.
        DECLARES_ALL_FEATURES: True,
        "seed": training.seed,
        "epoch": epoch,
        "val_metric": round(val_metric, 6),
        "metric": "weighted_f1" if space.task == "multilabel" else "accuracy",
        "search_seconds": round(search.seconds if seconds is None else seconds, 2),
        "ops": " ".join(space.ops),
        "cell_inputs": space.cell_inputs,
        "mixing": space.mixing,
        "alternation": training.alternation,
        "epochs": training.epochs,
        "first_order": True,
        **knobs,
        **(extra or {}),
    }
    return genotype_to_bmg(
        with_pairs(genotype, pairs),
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


def select_bmg(search: Search, epoch: int, record: dict[str, Any], start: float) -> str:
    """`--selection sample`'s genotype (search/select.py): candidates scored by the
    supernet on validation, the best `rerank` re-ranked by a short training.
    `start`: when the selection began (its time is search time)."""
    space, training = search.space, search.training
    # Its own stream: the candidates do not depend on how many updates were drawn.
    generator = torch.Generator().manual_seed(training.seed)
    candidates = select.candidate_pairs(space, training.candidates, generator)

    def scored(some: list[select.Pairs]) -> list[select.Score]:
        parts = (search.batch(part) for part in search.val_parts())
        with search.precision.autocast():
            return select.score_candidates(
                search.model, parts, some, search.loss, search.score
            )

    # Under torchrun each rank scores (and below, re-trains) its share of them.
    scores = [tuple(s) for s in shared_out(candidates, scored, 2, search.world)]
    order = select.rank(scores, training.rank_by)
    shortlist = order[: training.rerank]

    def text(index: int, extra: dict[str, MetaValue], seconds: float) -> str:
        supernet = {"selection_supernet_val": round(scores[index][0], 6)}
        return derive_bmg(
            search,
            epoch,
            scores[index][0],
            candidates[index],
            {**supernet, **extra},
            seconds,
        )

    if not shortlist:
        winner, extra = order[0], {}
    else:
        drafts = [text(i, {}, search.seconds) for i in shortlist]

        def retrained(some: list[str]) -> list[list[float]]:
            values = select.rerank_scores(
                some,
                search.bank,
                training.rerank_epochs,
                training.seed,
                training.threads,
                search.data,
                training.rerank_tail,
                search.data_sha256,
                str(search.device),  # this rank's own GPU, not cuda:0 on every rank
                training.precision,
            )
            return [[value] for value in values]

        trained = [v for (v,) in shared_out(drafts, retrained, 1, search.world)]
        winner = select.choose(shortlist, trained)
        extra = {"selection_rerank_val": round(trained[shortlist.index(winner)], 6)}
    record["selection_val"] = scores[winner][0]
    return text(winner, extra, search.seconds + time.perf_counter() - start)
