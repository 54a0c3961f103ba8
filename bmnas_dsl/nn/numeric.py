"""Numeric guards for training loops: a NaN or Inf in a loss, a gradient or a weight stops
the run with a message naming where, before a bad state reaches a checkpoint."""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from bmnas_dsl.errors import NumericError


def _kind(tensor: torch.Tensor) -> str:
    return "NaN" if bool(torch.isnan(tensor).any()) else "Inf"


def check_loss(loss: float, where: str) -> None:
    if not math.isfinite(loss):
        raise NumericError(f"{where}: the loss is {loss}")


def check_gradients(
    named: Iterable[tuple[str, torch.nn.Parameter]], where: str
) -> None:
    """One fused norm over all gradients (cheap); the slow search for the culprit only
    runs once something is wrong."""
    named = [(name, p.grad) for name, p in named if p.grad is not None]
    if not named:
        return
    total = torch.nn.utils.get_total_norm([grad for _, grad in named])
    if bool(torch.isfinite(total)):
        return
    for name, grad in named:
        if not bool(torch.isfinite(grad).all()):
            raise NumericError(
                f"{where}: the gradient of {name} contains {_kind(grad)}"
            )
    # Every gradient is finite but their norm overflowed: not a divergence.


def check_tensors(
    named: Iterable[tuple[str, torch.Tensor]], where: str, what: str
) -> None:
    for name, tensor in named:
        if not bool(torch.isfinite(tensor).all()):
            raise NumericError(f"{where}: {what} {name} contains {_kind(tensor)}")


def stopped(
    exc: NumericError, run: str, epochs_done: int, checkpoint: object
) -> NumericError:
    """The error a run ends with: where the value appeared and what is kept."""
    kept = (
        f"the last good checkpoint (epoch {epochs_done}) is kept in {checkpoint}"
        if epochs_done
        else "no epoch finished, so there is no checkpoint"
    )
    return NumericError(f"{exc}; {run} stopped, {kept}")
