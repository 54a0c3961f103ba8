"""The training loss of a task, shared by the search and the evaluation stage (they must
optimise the same objective): cross-entropy for multiclass, binary cross-entropy on
logits for multilabel (labels are 0/1 per class)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def loss_function(task: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if task == "multilabel":
        return lambda logits, y: nn.functional.binary_cross_entropy_with_logits(
            logits, y.float()
        )
    return nn.functional.cross_entropy
