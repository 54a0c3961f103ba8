"""The global-batch layers against the layers they replace: the same masks, the same
statistics, gradients and running averages (in this process, on a gloo group of one;
the torchrun tests check two and three ranks end to end)."""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
from torch import nn

from bmnas_dsl.parallel.layers import (
    GlobalBatchNorm,
    GlobalDropout,
    distribute_layers,
    global_batch,
)
from bmnas_dsl.parallel.world import groups
from bmnas_dsl.search.hypernet import SearchDropout


@pytest.mark.parametrize(
    ("draw", "local"), [("bernoulli", nn.Dropout), ("uniform", SearchDropout)]
)
def test_each_slice_of_the_global_mask_is_the_one_process_mask(draw, local):
    x = torch.randn(10, 4, 3)
    torch.manual_seed(5)
    whole = local(0.3).train()(x)
    layer = GlobalDropout(0.3, draw).train()
    for start, stop in [(0, 3), (3, 7), (7, 10), (4, 4)]:
        torch.manual_seed(5)  # every rank draws from the same stream
        with global_batch(10, start, stop):
            part = layer(x[start:stop])
        assert torch.equal(part, whole[start:stop])


def uniform_dropout(p: float) -> nn.Module:
    """The search's draw written out: keep where a uniform draw is >= p, scale."""

    class Uniform(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * (torch.rand_like(x) >= p).float() / (1 - p)

    return Uniform()


@pytest.mark.parametrize(
    ("draw", "local"), [("bernoulli", nn.Dropout), ("uniform", uniform_dropout)]
)
def test_outside_a_global_batch_it_is_the_layer_it_replaced(draw, local):
    x = torch.randn(6, 4, 3)
    torch.manual_seed(1)
    expected = local(0.5).train()(x)
    torch.manual_seed(1)
    assert torch.equal(GlobalDropout(0.5, draw).train()(x), expected)
    assert torch.equal(GlobalDropout(0.5, draw).eval()(x), x)


@pytest.fixture
def group_of_one():
    """A real gloo process group with this process as its only rank."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    groups.statistics = dist.new_group(backend="gloo")
    try:
        yield
    finally:
        groups.statistics = None
        dist.destroy_process_group()


@pytest.mark.parametrize("shape", [(16, 5, 7), (16, 5)])
def test_global_batch_norm_computes_what_batch_norm_does(group_of_one, shape):
    torch.manual_seed(0)
    x = (torch.randn(*shape) * 3 + 2).requires_grad_()
    reference = nn.BatchNorm1d(5)
    with torch.no_grad():
        reference.weight.uniform_(0.5, 1.5)
        reference.bias.uniform_(-1, 1)
    mine = GlobalBatchNorm(5)
    mine.load_state_dict(reference.state_dict())
    grad = torch.randn(*shape)
    for _ in range(3):  # the running statistics follow over several batches
        expected = reference(x)
        (ex,) = torch.autograd.grad(expected, x, grad)
        with global_batch(shape[0], 0, shape[0]):
            got = mine(x)
        (gx,) = torch.autograd.grad(got, x, grad)
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(gx, ex, rtol=1e-4, atol=1e-5)
    for name, value in reference.state_dict().items():
        torch.testing.assert_close(mine.state_dict()[name], value, rtol=1e-5, atol=1e-6)
    mine.eval()
    reference.eval()
    torch.testing.assert_close(mine(x), reference(x))


def test_distribute_layers_keeps_the_state_and_the_function():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv1d(3, 4, 1), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.2)
    )
    model(torch.randn(8, 3, 5))  # running statistics away from their start
    before = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.randn(8, 3, 5)
    expected = model.eval()(x)
    distribute_layers(model, "bernoulli")
    assert isinstance(model[1], GlobalBatchNorm) and isinstance(model[3], GlobalDropout)
    assert model.state_dict().keys() == before.keys()
    for name, value in before.items():
        assert torch.equal(model.state_dict()[name], value)
    assert not model.training  # the mode is kept
    assert torch.equal(model(x), expected)


def test_the_global_layers_trace_under_torch_compile():
    """dynamo cannot trace the ContextVar the global batch lives in: under compile (one
    process only) the layers are the ones they replace, with no graph break."""
    layer = nn.Sequential(GlobalBatchNorm(4), SearchDropout(0.1)).train()
    explained = torch._dynamo.explain(layer)(torch.randn(6, 4, 3))
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1
