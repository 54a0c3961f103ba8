"""The few collectives the runners need besides DDP's own, each a no-op (or the value
itself) in a world of one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import torch
from torch import nn

from bmnas_dsl.parallel.world import World

T = TypeVar("T")


def total(value: torch.Tensor, world: World) -> torch.Tensor:
    """The sum of `value` over the ranks (a new tensor; `value` itself when alone)."""
    if not world.distributed:
        return value
    import torch.distributed as dist

    summed = value.detach().clone()
    dist.all_reduce(summed)
    return summed


def assemble_rows(local: torch.Tensor, rows: int, world: World) -> torch.Tensor:
    """The whole `rows`-row tensor whose slice `world.bounds(rows)` each rank holds
    (validation and test logits): every rank gets all rows, in order."""
    if not world.distributed:
        return local
    start, stop = world.bounds(rows)
    whole = local.new_zeros((rows, *local.shape[1:]))
    whole[start:stop] = local
    return total(whole, world)


def sum_gradients(parameters: Sequence[nn.Parameter], world: World) -> None:
    """Sum the gradients of `parameters` over the ranks, in one all-reduce (a parameter
    without a gradient has none on every rank: the ranks run the same graph)."""
    if not world.distributed:
        return
    present = [p for p in parameters if p.grad is not None]
    if not present:
        return
    flat = total(torch.cat([p.grad.reshape(-1) for p in present]), world)
    offset = 0
    for p in present:
        size = p.grad.numel()
        p.grad.copy_(flat[offset : offset + size].view_as(p.grad))
        offset += size


def shared_out(
    items: Sequence[T],
    work: Callable[[list[T]], Sequence[Sequence[float]]],
    width: int,
    world: World,
) -> list[list[float]]:
    """`work(items)`, `width` numbers per item, with the items dealt out among the
    ranks (rank r takes items r, r + W, ...) and every item's numbers gathered back on
    every rank in the items' order (float64: exactly what the rank computed)."""
    if not world.distributed:
        return [[float(v) for v in values] for values in work(list(items))]
    mine = list(range(world.rank, len(items), world.size))
    table = torch.zeros(len(items), width, dtype=torch.float64)
    for index, values in zip(mine, work([items[i] for i in mine]), strict=True):
        table[index] = torch.tensor([float(v) for v in values], dtype=torch.float64)
    return total(table, world).tolist()


def share_of_mean(
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    logits: torch.Tensor,
    labels: torch.Tensor,
    rows: int,
) -> torch.Tensor:
    """This rank's share of the global batch's mean loss: its own rows' mean weighted by
    their fraction of the `rows` rows, so that the shares sum to the global mean, also
    for an uneven last batch (an empty slice: zero, still in the graph)."""
    if len(labels) == 0:
        return logits.sum() * 0.0
    return loss(logits, labels) * (len(labels) / rows)
