"""Settings of the evaluation stage, importable without torch (the CLI shows the
defaults in --help without paying for torch's import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bmnas_dsl.runs import checks


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
    device: str = "auto"  # the machine's: nn/device.py
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"  # nn/precision.py
    compile: str = "off"  # nn/compiling.py: off or a torch.compile mode

    def problems(self) -> list[str]:
        """Every setting that cannot work, each naming its flag (empty when fine)."""
        return checks.collect(
            checks.integer("--epochs", self.epochs, 1, 1_000_000),
            checks.integer("--batch-size", self.batch_size, 1, 1_000_000_000),
            checks.integer("--seed", self.seed, 0),
            checks.number("--lr", self.lr, 0, positive=True),
            checks.number("lr_min", self.lr_min, 0),
            checks.number("--weight-decay", self.weight_decay, 0),
            checks.choice("--holdout", self.holdout, ("test", "val")),
            checks.optional_threads(self.threads),
            checks.device(self.device),
            checks.choice("--precision", self.precision, checks.PRECISIONS),
            checks.choice("--compile", self.compile, checks.COMPILE_MODES),
        )
