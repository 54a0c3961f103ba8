"""`--selection sample`: choosing the cells' inputs on the sparse choices themselves.

Why not alpha (docs/search.md, "Selection"): in the dense supernet every cell reads a
mixture of all predecessors, so alpha follows each input's marginal contribution next
to all the others. Strong views that are redundant with each other contribute almost
nothing at the margin and lose; weak but complementary ones win, and the derived pair
of two weak views is a poor network. Here instead:

1. the supernet trains on uniformly sampled input pairs (each cell reads exactly two
   nodes, as the derived network will; single-path one-shot, Guo et al. 2020), so its
   shared weights are fitted to the sub-networks it will be asked to judge;
2. `candidates` sampled input assignments are scored by that supernet on the validation
   split (eval mode, one forward each), ranked by loss (default) or metric;
3. the best `rerank` of them are each trained briefly as real networks on the training
   split and scored on validation (`bmnas train --holdout val`; the mean metric of the
   last `rerank_tail` epochs), which removes what is left of the weight-sharing bias;
   the best wins. Loss and a tail mean because one accuracy on a few hundred rows is
   coarse and noisy (the choice: docs/search.md, "Selection").

The pure functions (sampling, ranking, the final choice) are unit-tested on hand-made
numbers; test data is never read.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch

from bmnas_dsl.errors import SearchError
from bmnas_dsl.runs.layout import LOG
from bmnas_dsl.runs.log import read_log
from bmnas_dsl.search.space import SearchSpace
from bmnas_dsl.train.runner import train_genotype
from bmnas_dsl.train.settings import TrainSettings

Pairs = tuple[tuple[int, int], ...]
# (validation metric, validation loss) of one candidate under the supernet
Score = tuple[float, float]


def sample_pairs(space: SearchSpace, generator: torch.Generator) -> Pairs:
    """One input assignment: cell k reads two distinct nodes drawn uniformly from its
    allowed predecessors (the distribution of ablation.random_pairs), x the earlier."""
    pairs = []
    for k in range(space.cells):
        i, j = torch.randperm(space.predecessors(k), generator=generator)[:2].tolist()
        pairs.append((min(i, j), max(i, j)))
    return tuple(pairs)


def assignments(space: SearchSpace) -> int:
    """How many distinct input assignments the space has."""
    total = 1
    for k in range(space.cells):
        n = space.predecessors(k)
        total *= n * (n - 1) // 2
    return total


def candidate_pairs(
    space: SearchSpace, count: int, generator: torch.Generator
) -> list[Pairs]:
    """Up to `count` distinct assignments, in the order drawn (all of them when the
    space has no more; the draw is bounded so that a small space cannot loop)."""
    wanted = min(count, assignments(space))
    found: dict[Pairs, None] = {}
    for _ in range(50 * wanted):
        if len(found) == wanted:
            break
        found.setdefault(sample_pairs(space, generator), None)
    return list(found)


def rank(scores: Sequence[Score], by: str = "metric") -> list[int]:
    """Candidate indices, best first: higher metric, then lower loss (`by="loss"`: the
    other way round); ties keep the order drawn (stable), so a ranking is
    reproducible."""

    def key(i: int) -> tuple[float, float]:
        metric, loss = scores[i]
        return (loss, -metric) if by == "loss" else (-metric, loss)

    return sorted(range(len(scores)), key=key)


def tail_mean(curve: Sequence[float], tail: int) -> float:
    """The mean of the last `tail` values of a validation curve (all when shorter)."""
    if not curve:
        raise ValueError("an empty validation curve")
    last = list(curve)[-tail:]
    return sum(last) / len(last)


def choose(ranked: Sequence[int], trained: Sequence[float]) -> int:
    """The re-ranked winner: the best trained validation score among the shortlisted
    candidates `ranked` (best supernet rank first); ties go to the better supernet rank."""
    if not ranked or len(trained) != len(ranked):
        raise ValueError("choose needs one trained score per shortlisted candidate")
    best = 0
    for position in range(1, len(ranked)):
        if trained[position] > trained[best]:
            best = position
    return ranked[best]


def score_candidates(
    model: torch.nn.Module,
    parts: Iterable[tuple[list[torch.Tensor], torch.Tensor]],
    candidates: Sequence[Pairs],
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    metric: Callable[[torch.Tensor, torch.Tensor], float],
) -> list[Score]:
    """Each candidate's validation (metric, loss) under the supernet, in eval mode.
    `parts`: the validation rows as (inputs, labels), in one part or several (a
    streamed bank: each part is read once, and only the logits are kept)."""
    model.eval()
    logits: list[list[torch.Tensor]] = [[] for _ in candidates]
    labels = []
    with torch.no_grad():
        for inputs, part_labels in parts:
            labels.append(part_labels)
            for kept, pairs in zip(logits, candidates, strict=True):
                kept.append(model(inputs, list(pairs)).float())
    every = torch.cat(labels)
    scores = []
    for kept in logits:
        whole = torch.cat(kept)
        scores.append((metric(whole, every), float(loss(whole, every))))
    return scores


def rerank_scores(
    texts: Sequence[str],
    bank: object,
    epochs: int,
    seed: int,
    threads: int | None,
    data: str,
    tail: int = 1,
    data_sha256: str | None = None,
    device: str = "auto",
    precision: str = "fp32",
) -> list[float]:
    """Each genotype trained `epochs` epochs on the training split (the evaluation
    stage's own training, bmnas train --holdout val): the mean validation metric of
    its last `tail` epochs (1: the final one)."""
    settings = TrainSettings(
        epochs=epochs,
        seed=seed,
        holdout="val",
        threads=threads,
        device=device,
        precision=precision,
    )
    results = []
    for text in texts:
        with tempfile.TemporaryDirectory() as folder:
            metrics = train_genotype(
                text,
                bank,
                settings,
                folder,
                data=data,
                show_progress=False,
                data_sha256=data_sha256,
            )
            key = f"val_{metrics['metric']}"
            log = read_log(Path(folder) / LOG, SearchError, numbers=(key,))
            curve = [float(record[key]) for record in log]
        results.append(tail_mean(curve, tail))
    return results
