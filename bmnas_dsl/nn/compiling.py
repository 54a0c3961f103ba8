"""`bmnas train --compile MODE`: the network's training steps under torch.compile
(inductor), or eager with `off` (docs/decisions.md, "Compiling").

Only the training forward and backward run compiled. Scoring (eval mode) stays eager:
compiling it would be a second graph, paid again, for a pass over the held-out split
that eager computes in a fraction of a training epoch (and the same function: the
compiled logits agree within 5e-7, benchmarks/train_step.py). In training mode a compiled
network's dropout masks come from inductor's own generator, seeded from torch's: a run
is deterministic for its seed, and its results differ from an eager run's, so the mode
is a setting of the run (a resume keeps it), as --precision is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn

from bmnas_dsl.runs.checks import COMPILE_MODES

__all__ = ["COMPILE_MODES", "compile_failures", "compiled"]


def compiled(model: nn.Module, mode: str) -> nn.Module:
    """`model`, or it under torch.compile in `mode` (compiled at its first call)."""
    if mode == "off":
        return model
    return torch.compile(model, mode=mode)  # type: ignore[return-value]


@contextmanager
def compile_failures(error: Callable[[str], Exception], mode: str) -> Iterator[None]:
    """A torch.compile failure in the block (no C++ compiler for inductor's CPU code,
    an unsupported op) as `error`'s one line instead of a page of traceback."""
    if mode == "off":
        yield
        return
    from torch._dynamo.exc import TorchDynamoException

    try:
        yield
    except TorchDynamoException as exc:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise error(
            f"--compile {mode}: torch.compile failed on this machine ({first}); "
            "train without --compile (or with --compile off)"
        ) from None
