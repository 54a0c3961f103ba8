"""Settings of the evaluation stage, importable without torch (the CLI shows the
defaults in --help without paying for torch's import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation of the evaluation stage (defaults: docs/train.md says how chosen)."""

    epochs: int = 20  # chosen on mfeat validation: docs/results.md
    batch_size: int = 64
    seed: int = 0
    lr: float = 1e-3
    lr_min: float = 1e-6
    weight_decay: float = 1e-4
    holdout: Literal["test", "val"] = "test"
    threads: int | None = None

    def problems(self) -> list[str]:
        found = []
        if self.epochs < 1:
            found.append(f"--epochs must be at least 1, not {self.epochs}")
        if self.batch_size < 1:
            found.append(f"--batch-size must be at least 1, not {self.batch_size}")
        if not self.lr > 0:
            found.append(f"--lr must be positive, not {self.lr}")
        if self.holdout not in ("test", "val"):
            found.append(f"--holdout must be test or val, not {self.holdout}")
        return found
