"""Optimisation settings of a search (torch-free, so that the CLI can show and check
them before importing torch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bmnas_dsl.runs import checks

SELECTIONS = ("sample", "paper")
RANK_BY = ("metric", "loss")


@dataclass(frozen=True)
class Training:
    """Optimisation knobs. The optimisers' defaults are the released code's
    (semantics.md); the selection's are chosen on six-view mfeat validation
    (docs/search.md, "Selection")."""

    epochs: int = 30
    batch_size: int = 64
    seed: int = 0
    alternation: Literal["step", "epoch"] = "step"
    weight_lr: float = 1e-3
    weight_lr_min: float = 1e-6
    weight_decay: float = 3e-4
    arch_lr: float = 3e-4
    arch_weight_decay: float = 1e-3
    # Epochs of weight steps only before the architecture steps start.
    warmup_epochs: int = 0
    # How the cells' inputs are chosen: "paper" derives them from alpha (eq. 3, the
    # released behaviour); "sample" trains the supernet on uniformly sampled input pairs
    # and ranks sampled candidates by the supernet's validation score.
    selection: Literal["sample", "paper"] = "sample"
    candidates: int = 256  # "sample": input assignments scored by the supernet
    rerank: int = 4  # "sample": the best `rerank` of them trained briefly; 0: none
    rerank_epochs: int = 10  # each re-ranked genotype: epochs on train, scored on val
    # "sample": the supernet ranks by validation "metric" (then loss) or "loss" (then
    # metric); a re-ranked genotype scores the mean metric of its last `rerank_tail`
    # epochs (both less noisy than one accuracy on a few hundred rows).
    rank_by: Literal["metric", "loss"] = "loss"
    rerank_tail: int = 5
    threads: int | None = None
    device: str = "auto"  # the machine's: nn/device.py
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # nn/precision.py

    def problems(self) -> list[str]:
        """Every setting that cannot work, each naming its flag (empty when fine)."""
        return checks.collect(
            checks.integer("--epochs", self.epochs, 1, 1_000_000),
            checks.integer("--batch-size", self.batch_size, 1, 1_000_000_000),
            checks.integer("--seed", self.seed, 0),
            checks.choice("--alternation", self.alternation, ("step", "epoch")),
            checks.number("--weight-lr", self.weight_lr, 0, positive=True),
            checks.number("--weight-lr-min", self.weight_lr_min, 0),
            checks.number("--weight-decay", self.weight_decay, 0),
            checks.number("--arch-lr", self.arch_lr, 0, positive=True),
            checks.number("--arch-weight-decay", self.arch_weight_decay, 0),
            checks.integer("--warmup-epochs", self.warmup_epochs, 0, 1_000_000),
            checks.choice("--selection", self.selection, SELECTIONS),
            checks.integer("--candidates", self.candidates, 1, 1_000_000),
            checks.integer("--rerank", self.rerank, 0, 1_000),
            checks.integer("--rerank-epochs", self.rerank_epochs, 1, 1_000_000),
            checks.choice("--rank-by", self.rank_by, RANK_BY),
            checks.integer("--rerank-tail", self.rerank_tail, 1, 1_000_000),
            checks.optional_threads(self.threads),
            checks.device(self.device),
            checks.choice("--precision", self.precision, checks.PRECISIONS),
        )
