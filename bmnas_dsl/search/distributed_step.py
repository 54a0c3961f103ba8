"""One update of the search in a distributed world (torchrun): on this rank's slice of
the global batch, with the hypernet inside DistributedDataParallel (docs/distributed.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import nn

from bmnas_dsl.nn.numeric import check_gradients, check_loss, check_tensors
from bmnas_dsl.nn.precision import Precision
from bmnas_dsl.parallel.collectives import share_of_mean, sum_gradients, total
from bmnas_dsl.parallel.layers import global_batch
from bmnas_dsl.parallel.world import World
from bmnas_dsl.search.select import Pairs


class Search(Protocol):
    """What a step reads of search.runner.Search (a protocol: the runner imports this
    module, not the other way round)."""

    epoch: int
    world: World
    model: nn.Module
    network: nn.Module  # the model inside DistributedDataParallel
    weight_optimiser: torch.optim.Optimizer
    arch_optimiser: torch.optim.Optimizer
    architecture: list[nn.Parameter]
    named_weights: list[tuple[str, nn.Parameter]]
    named_architecture: list[tuple[str, nn.Parameter]]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    precision: Precision

    def batch(self, index: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]: ...
    def pairs(self) -> Pairs | None: ...


def distributed_step(
    search: Search,
    index: torch.Tensor,
    architecture: bool,
    number: int,
    batch: tuple[list[torch.Tensor], torch.Tensor] | None,
) -> float:
    """`Search._step` on this rank's slice of the global batch `index`. DDP forbids
    toggling requires_grad, so the other set is frozen another way: an
    architecture step takes only alpha/beta/gamma's gradients (autograd.grad, which
    skips the weights' as the toggle did) outside DDP's synchronisation and sums
    them in one all-reduce; a weight step is DDP's backward, whose few
    architecture gradients are dropped."""
    optimiser = search.arch_optimiser if architecture else search.weight_optimiser
    active = search.named_architecture if architecture else search.named_weights
    kind = "architecture" if architecture else "weight"
    where = f"epoch {search.epoch + 1}, {kind} step {number}"
    rows = len(index)
    start, stop = search.world.bounds(rows)
    search.model.train()
    search.weight_optimiser.zero_grad(set_to_none=True)
    search.arch_optimiser.zero_grad(set_to_none=True)
    inputs, labels = batch if batch is not None else search.batch(index[start:stop])
    pairs = search.pairs()
    chosen = None if pairs is None else list(pairs)
    with global_batch(rows, start, stop), search.precision.autocast():
        if architecture:
            with search.network.no_sync():
                logits = search.network(inputs, chosen)
        else:
            logits = search.network(inputs, chosen)
        share = share_of_mean(search.loss, logits, labels, rows)
    value = float(total(share.detach(), search.world))  # the global batch's loss
    check_loss(value, where)
    if architecture:
        scaled = search.precision.scaled(share)
        grads = torch.autograd.grad(scaled, search.architecture, allow_unused=True)
        for p, grad in zip(search.architecture, grads, strict=True):
            p.grad = grad
        sum_gradients(search.architecture, search.world)
    else:
        # DDP averages over the ranks: the shares summed are the global mean.
        search.precision.scaled(share * search.world.size).backward()
        search.arch_optimiser.zero_grad(set_to_none=True)
    search.precision.step(optimiser, lambda: check_gradients(active, where))
    if architecture:
        check_tensors(active, where, "the architecture weight")
    return value
