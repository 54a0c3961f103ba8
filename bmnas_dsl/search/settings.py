"""Optimisation settings of a search (torch-free, so that the CLI can show and check
them before importing torch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bmnas_dsl.runs import checks


@dataclass(frozen=True)
class Training:
    """Optimisation knobs (defaults: the released code, semantics.md)."""

    epochs: int = 30
    batch_size: int = 64
    seed: int = 0
    alternation: Literal["step", "epoch"] = "step"
    weight_lr: float = 1e-3
    weight_lr_min: float = 1e-6
    weight_decay: float = 3e-4
    arch_lr: float = 3e-4
    arch_weight_decay: float = 1e-3
    threads: int | None = None

    def problems(self) -> list[str]:
        """Every setting that cannot work, each naming its flag (empty when fine)."""
        return checks.collect(
            checks.integer("--epochs", self.epochs, 1, 1_000_000),
            checks.integer("--batch-size", self.batch_size, 1, 1_000_000_000),
            checks.integer("--seed", self.seed, 0),
            checks.choice("--alternation", self.alternation, ("step", "epoch")),
            checks.number("weight_lr", self.weight_lr, 0, positive=True),
            checks.number("weight_lr_min", self.weight_lr_min, 0),
            checks.number("weight_decay", self.weight_decay, 0),
            checks.number("arch_lr", self.arch_lr, 0, positive=True),
            checks.number("arch_weight_decay", self.arch_weight_decay, 0),
            checks.optional_threads(self.threads),
        )
