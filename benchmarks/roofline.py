"""The hardware's side of a speed figure: the FLOPs an update does and the rate at which
this machine multiplies matrices, measured in the same process as the step.

Issue 15 defines the roofline as the float32 (and bfloat16) matmul rate of the reshape
layers' shape: all the features' rows times all their channels against C outputs
(NTU: 768 x 7552 by 7552 x 128). A figure that divides the step's FLOPs by its time is
then a fraction of what this machine does on its best-suited kernel, at this moment:
both are measured minutes apart at most, so the machine's drift between moments (2x on
these shared machines) cancels.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode


def count_flops(fn: Callable[[], Any]) -> int:
    """Floating-point operations torch counts for one call of `fn` (matmuls and
    convolutions, forward and backward: what FlopCounterMode counts; elementwise work
    is not counted, so the fraction of the roofline is, if anything, flattered less)."""
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def matmul_rate(
    m: int,
    k: int,
    n: int,
    dtype: torch.dtype,
    repeats: int = 15,
    device: torch.device | str = "cpu",
) -> float:
    """GFLOP/s of an (m x k) by (k x n) product in `dtype` on `device` (on the CPU, at
    this thread count): the median of `repeats` after a warm-up."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(m, k, generator=generator).to(device, dtype)
    b = torch.randn(k, n, generator=generator).to(device, dtype)
    cuda = torch.device(device).type == "cuda"
    for _ in range(3):
        torch.mm(a, b)
    seconds = []
    for _ in range(repeats):
        if cuda:
            torch.cuda.synchronize()
        begin = time.perf_counter()
        torch.mm(a, b)
        if cuda:  # a CUDA call returns once queued: wait for the product itself
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - begin)
    return 2.0 * m * k * n / statistics.median(seconds) / 1e9


def reshape_shape(
    batch: int, L: int, channels: list[int], C: int
) -> tuple[int, int, int]:
    """(m, k, n) of the reshape layers as one product: batch x L rows, every feature's
    channels, C outputs."""
    return batch * L, sum(channels), C


def rooflines(
    shape: tuple[int, int, int],
    repeats: int = 15,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """The float32 and bfloat16 matmul rates (GFLOP/s) of `shape` on `device`,
    interleaved twice so that a moment of drift does not favour one: the better of the
    two for each. (On a GPU, float32 matmuls use TF32 where torch is set to.)"""
    rates: dict[str, list[float]] = {"fp32": [], "bf16": []}
    for _ in range(2):
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            rates[name].append(matmul_rate(*shape, dtype, repeats, device))
    return {name: round(max(values), 1) for name, values in rates.items()}


def achieved(flops: int, ms: float) -> float:
    """GFLOP/s of `flops` done in `ms` milliseconds."""
    return flops / (ms / 1e3) / 1e9
