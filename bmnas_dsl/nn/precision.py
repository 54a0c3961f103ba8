"""`--precision fp32|bf16|fp16`: autocast for the forward pass and the loss, the weights,
alpha/beta/gamma and both optimisers' states staying float32 (docs/decisions.md,
"Precision").

fp16 needs a GradScaler: one for the run, stepped and updated once per iteration (an
iteration here is one update of one optimiser: weight and architecture steps
alternate). It skips an update whose scaled gradients overflowed, by design, so the
gradient guard does not stop an fp16 run for an Inf gradient; the loss guard still
does. fp32 enters no autocast at all: it computes exactly what it did before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch

from bmnas_dsl.runs.checks import PRECISIONS

__all__ = ["PRECISIONS", "Precision"]
_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Precision:
    """A run's precision on its device: the autocast context and, for fp16, the
    gradient scaler."""

    def __init__(self, name: str, device: torch.device) -> None:
        self.name, self.device = name, device
        self.dtype = _DTYPES.get(name)
        self.scaler = torch.amp.GradScaler(device.type) if name == "fp16" else None

    @contextmanager
    def autocast(self) -> Iterator[None]:
        """Forward passes and losses in the block run in the run's precision."""
        if self.dtype is None:
            yield
            return
        with torch.autocast(self.device.type, dtype=self.dtype):
            yield

    def scaled(self, loss: torch.Tensor) -> torch.Tensor:
        """The loss to differentiate: scaled for fp16, itself otherwise."""
        return loss if self.scaler is None else self.scaler.scale(loss)

    def step(self, optimiser: torch.optim.Optimizer, check: Callable[[], None]) -> None:
        """Update with the gradients the backward of `scaled` left: `check` (the
        gradient guard) then the step; for fp16 unscale, step or skip, update."""
        if self.scaler is None:
            check()
            optimiser.step()
            return
        self.scaler.unscale_(optimiser)
        self.scaler.step(optimiser)
        self.scaler.update()

    def state(self) -> dict[str, Any]:
        return {} if self.scaler is None else {"grad_scaler": self.scaler.state_dict()}

    def load_state(self, state: dict[str, Any]) -> None:
        if self.scaler is not None and "grad_scaler" in state:
            self.scaler.load_state_dict(state["grad_scaler"])
