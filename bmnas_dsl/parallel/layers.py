"""Layers that compute on a rank's slice of a global batch what they would compute on the
whole batch in one process (world-size invariance, docs/distributed.md).

- `GlobalBatchNorm`: batch statistics over the global batch. torch's SyncBatchNorm does
  this on CUDA only; here the per-channel sums go through one differentiable all-reduce
  (its backward is the all-reduce of their gradients), on any device.
- `GlobalDropout`: the mask is drawn for the whole global batch, from the same random
  stream on every rank (all ranks share the seed and draw the same amounts), and each
  rank keeps its rows: 1, 2 or 4 ranks drop the same units. The draw is that of the
  layer replaced, so one process and many give the same masks: `nn.Dropout`'s
  Bernoulli draw (what F.dropout does on the CPU), or `SearchDropout`'s uniform one.

Both subclass the layers they replace, so state dicts and checkpoints are the same
whatever the world size. Outside a global batch (`global_batch` not entered, eval mode)
they are the layers they replace.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
import torch.distributed as dist
from torch import nn

from bmnas_dsl.parallel.world import groups

# (rows of the global batch, start, stop of this rank's slice) during a training forward
_BATCH: ContextVar[tuple[int, int, int] | None] = ContextVar("batch", default=None)


def _current_batch() -> tuple[int, int, int] | None:
    """The global batch being computed, or None. A hypernet under torch.compile (one
    process: benchmarks/search_step.py --compile) never has one, and dynamo cannot
    trace ContextVar.get."""
    return None if torch.compiler.is_compiling() else _BATCH.get()


@contextmanager
def global_batch(rows: int, start: int, stop: int) -> Iterator[None]:
    """Forward passes in the block compute on rows [start, stop) of a `rows`-row batch."""
    token = _BATCH.set((rows, start, stop))
    try:
        yield
    finally:
        _BATCH.reset(token)


class _Summed(torch.autograd.Function):
    """The sum over the ranks; the gradient of each rank's input is the sum of the
    ranks' output gradients (every rank's loss depends on every rank's input)."""

    @staticmethod
    def forward(ctx: object, value: torch.Tensor, group: object) -> torch.Tensor:
        ctx.group = group  # type: ignore[attr-defined]
        result = value.clone()
        dist.all_reduce(result, group=group)
        return result

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        result = grad.clone()
        dist.all_reduce(result, group=ctx.group)  # type: ignore[attr-defined]
        return result, None


def summed(value: torch.Tensor, group: object) -> torch.Tensor:
    """`value` summed over the ranks of `group`, differentiably."""
    return _Summed.apply(value, group)


class GlobalDropout(nn.Dropout):
    """Dropout whose mask is the slice of the global batch's mask. `draw`: "bernoulli"
    (nn.Dropout's) or "uniform" (search/hypernet.py's SearchDropout)."""

    def __init__(self, p: float, draw: str) -> None:
        super().__init__(p)
        self.draw = draw

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = _current_batch()
        if batch is None or not self.training or self.p == 0.0:
            return super().forward(x) if self.draw == "bernoulli" else self._local(x)
        if self.p >= 1.0:
            return torch.zeros_like(x)
        rows, start, stop = batch
        shape = (rows, *x.shape[1:])
        if self.draw == "bernoulli":
            mask = torch.empty(shape, dtype=x.dtype).bernoulli_(1.0 - self.p)
        else:
            mask = torch.rand(shape, dtype=x.dtype).ge_(self.p)
        return x * mask[start:stop].to(x.device).div_(1.0 - self.p)

    def _local(self, x: torch.Tensor) -> torch.Tensor:
        """The uniform draw on this tensor alone (the search's SearchDropout, outside a
        global batch)."""
        if not self.training or self.p == 0.0:
            return x
        if self.p >= 1.0:
            return torch.zeros_like(x)
        return x * torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))


class GlobalBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d with statistics over the global batch of a distributed forward."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if _current_batch() is None or not self.training or groups.statistics is None:
            return super().forward(x)
        # In float32 under autocast, as torch's batch norm runs (bf16 sums would not do).
        x = x.float()
        dims = [0] if x.dim() == 2 else [0, 2]
        shape = [1, -1] + [1] * (x.dim() - 2)
        # Shifted by the running mean (the same on every rank): the sums of squares do
        # not cancel catastrophically once it tracks the data.
        shift = self.running_mean.detach().view(shape)
        centred = x - shift
        count = x.new_tensor([x.numel() // x.shape[1]])
        local = torch.cat([centred.sum(dims), (centred * centred).sum(dims), count])
        total = summed(local, groups.statistics)
        channels = x.shape[1]
        n = total[-1]
        offset = total[:channels] / n
        var = (total[channels : 2 * channels] / n - offset * offset).clamp_min(0.0)
        mean = offset + self.running_mean.detach()
        with torch.no_grad():
            # As nn.BatchNorm1d: the running variance is the unbiased one.
            unbiased = var * (n / (n - 1).clamp_min(1.0))
            self.running_mean.lerp_(mean.detach(), self.momentum)
            self.running_var.lerp_(unbiased.detach(), self.momentum)
            self.num_batches_tracked += 1
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def distribute_layers(model: nn.Module, dropout_draw: str) -> nn.Module:
    """Replace, in place, every BatchNorm1d by a GlobalBatchNorm and every nn.Dropout
    (of the given draw) by a GlobalDropout, keeping parameters and buffers."""
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.BatchNorm1d) and not isinstance(
                child, GlobalBatchNorm
            ):
                module._modules[name] = _global_norm(child)
            elif isinstance(child, nn.Dropout) and not isinstance(child, GlobalDropout):
                dropout = GlobalDropout(child.p, dropout_draw)
                module._modules[name] = dropout.train(child.training)
    return model


def _global_norm(norm: nn.BatchNorm1d) -> GlobalBatchNorm:
    if norm.momentum is None or not norm.track_running_stats:
        raise ValueError("GlobalBatchNorm needs running statistics with a momentum")
    replacement = GlobalBatchNorm(
        norm.num_features, norm.eps, norm.momentum, norm.affine, True
    )
    replacement.load_state_dict(norm.state_dict())
    replacement.train(norm.training)
    return replacement
