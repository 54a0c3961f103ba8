"""Speed of one search update of the BM-NAS hypernet, side by side with a straightforward
version and, given its code, the authors' released supernet; FLOPs and the fraction of
this machine's matmul rate each reaches (issue 15, part 3).

What is measured, every runner on the same data and the same sequence of batches:

* **Ours**: `bmnas_dsl.search.runner.Search._step`, the very code a search runs: the
  batch is gathered from the pooled features, then one update of the weights (training
  batch) or of the architecture (validation batch) -- forward, loss, backward, optimiser
  step -- with the other parameter set frozen (`requires_grad_(False)`), so no gradient
  is computed for it. The `Search` is built on a `FeatureBank` of random data with the
  configuration's features, already pooled to (C_in, L) (position pooling is then the
  identity), and random labels. `--selection paper` (the default here) is the whole
  supernet, the mathematics of the other runners; `sample` (bmnas search's default)
  trains one sampled input pair per update, less work, so not comparable.
* **Ours, bf16** (`--precisions`): the same under `--precision bf16` autocast.
* **Ours, torch.compile** (`--compile`): the same Search with its hypernet under
  `torch.compile` (inductor; `--compile-mode reduce-overhead` adds CUDA graphs on a
  GPU), its first two updates (which compile) timed apart on a cold cache, and the
  number of updates after which the compile time is paid back.
* **Straightforward**: the same hypernet written the obvious way, as the authors'
  released code does: every candidate op computed (Zero too, as `zeros_like`, when it is
  in the op pool), every edge mixture written as `torch.stack` and a weighted sum, the
  softmaxes recomputed where they are used, and every update computing the gradients of
  all parameters (weights and architecture) and then stepping one optimiser. The
  candidate ops, reshape layers and head are the same `bmnas_dsl.nn.layers` classes, so
  only the hypernet structure and the update differ. Its state is loaded from ours, and
  a parity check (training mode, so batch statistics, with dropout off since the two
  draw their masks differently) compares the logits and every gradient before timing.
* **Released** (`--released-code DIR`, a checkout of github.com/Somedaywilldo/BM-NAS):
  the authors' own supernet, imported from DIR at run time (never vendored), as their
  NTU search steps it (benchmarks/released_supernet.py says exactly what).
* The optimisers are the search's (weights Adam lr 1e-3, weight decay 3e-4; architecture
  Adam lr 3e-4, betas (0.5, 0.999), weight decay 1e-3). After a warm-up, each repeat
  runs one architecture step and one weight step of each runner, the runner that goes
  first rotating from repeat to repeat, with the garbage collector off while timing.
* FLOPs: torch's FlopCounterMode over one update of each kind (matmuls and
  convolutions, benchmarks/roofline.py). The roofline: this process's float32 and
  bfloat16 matmul rate at the reshape layers' shape (batch x L rows, all features'
  channels, C outputs), measured right after the timing. Reported per runner: median
  ms per update, GFLOP per weight + architecture pair, GFLOP/s and its fraction of the
  fp32 roofline (and of its own precision's).
* The floor (with `--released-code`, on the CPU): what no rewrite of ours can go below,
  measured in this process: every counted FLOP of ours at the fp32 roofline, plus
  drawing the random numbers its update draws (counted with a dispatch mode; the CPU
  generator is serial, and the same dropout masks need the same draws). The released
  code's time over it bounds the speed-up any rewrite could reach here.
* Issue 15's goal applies at `--config ntu --batch 96 --threads 2 --space official
  --mixing same --selection paper` (the defaults): ours at >= 40 % of the fp32
  roofline, and >= 4x faster than the released supernet side by side.
* `--config ntu` is the NTU configuration of the paper's best model: eight features
  (video 512, 1024, 2048, 2048; skeleton 128, 256, 1024, 512 channels) pooled to L = 8,
  C = 128, 2 cells of 2 steps, 60 classes. `--space official` is the released code's
  step ops (Sum, Attention, LinearGLU, ConcatFC; its edges choose between Identity and
  Zero, as ours); `--space paper` adds Zero to the step ops. Cells take any earlier
  node as input (cells included).

`--profile` adds where the time goes in ours: each stage on its own (batch gather,
reshape layers, cells and head, forward and backward, optimiser step), the forward time
of each cell part (candidate ops, edge mixing, projection, norm) and the heaviest torch
operators. `--prototypes` measures candidate speed-ups of the package, applied here to
copies (instance patches; the package is untouched), each alone and all together,
alternating with the unpatched search. `--tune-malloc` (a prototype for the whole
process, so compare two runs) makes glibc keep freed memory for reuse.

Noise: the machine is small and shared. The script measures the CPU share other
processes took during the timing and warns above 10%. Absolute times drift between
processes and over minutes (2x on these machines), so compare only figures from one
run: every ratio here is between runners timed alternately in one process, and the
roofline is measured in the same process.

Usage: python benchmarks/search_step.py [--config ntu] [--batch 96] [--threads 2]
    [--space official|paper] [--mixing same|separate] [--selection paper|sample]
    [--precisions fp32 bf16] [--released-code DIR] [--compile [--compile-mode M]]
    [--repeats 20] [--json]
    [--profile] [--prototypes] [--tune-malloc]
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import ctypes.util
import functools
import gc
import json
import os
import resource
import statistics
import sys
import time
import types
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from bmnas_dsl.data.bank import FeatureBank
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.nn.layers import ConcatFC, ConvBNReLU, Head, LinearGLU
from bmnas_dsl.search.hypernet import make_op
from bmnas_dsl.search.runner import Search, Training, loss_function
from bmnas_dsl.search.space import PAPER_OPS, RELEASED_OPS, SearchSpace

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compiling import COMPILE_MODES, cold_compile_cache
from roofline import achieved, count_flops, reshape_shape, rooflines

CONFIGS: dict[str, dict[str, Any]] = {
    # The NTU RGB-D configuration of the paper's best model (features already pooled).
    "ntu": {
        "features": [
            ("video.f1", 512),
            ("video.f2", 1024),
            ("video.f3", 2048),
            ("video.f4", 2048),
            ("skeleton.f1", 128),
            ("skeleton.f2", 256),
            ("skeleton.f3", 1024),
            ("skeleton.f4", 512),
        ],
        "classes": 60,
        "C": 128,
        "L": 8,
        "cells": 2,
        "steps": 2,
    },
    # A small configuration for smoke tests.
    "mini": {
        "features": [("a.f1", 64), ("a.f2", 32), ("b.f1", 48)],
        "classes": 5,
        "C": 16,
        "L": 4,
        "cells": 2,
        "steps": 2,
    },
}
SPACES = {"official": RELEASED_OPS, "paper": PAPER_OPS}
# Issue 15's goal, at its conditions (ISSUE_CONDITIONS): one weight + architecture step
# at this fraction of the float32 matmul roofline or better, and this many times faster
# than the authors' released supernet measured side by side (GOAL_SPEEDUP_STRETCH: the
# issue's stretch goal).
RESULTS = Path(__file__).resolve().parent / "results" / "search_step.json"
GOAL_ROOFLINE = 0.40
GOAL_SPEEDUP = 4.0
GOAL_SPEEDUP_STRETCH = 6.0
ISSUE_CONDITIONS = {
    "device": "cpu",
    "config": "ntu",
    "batch": 96,
    "threads": 2,
    "space": "official",
    "mixing": "same",
    "selection": "paper",
}
WARMUP = 3
SPLIT_BATCHES = 2  # batches of random data per split (train, val)


# -- the problem -------------------------------------------------------------------
def make_space(
    config: str, space: str, mixing: str
) -> tuple[SearchSpace, dict[str, Any]]:
    spec = CONFIGS[config]
    L = spec["L"]
    features = tuple((name, (channels, L)) for name, channels in spec["features"])
    return (
        SearchSpace(
            features=features,
            classes=spec["classes"],
            C=spec["C"],
            L=L,
            cells=spec["cells"],
            steps=spec["steps"],
            ops=SPACES[space],
            cell_inputs="any",
            mixing=mixing,  # type: ignore[arg-type]
        ),
        spec,
    )


def random_bank(space: SearchSpace, batch: int, seed: int) -> FeatureBank:
    """Random features (N, C_in, L) and labels; the train and val splits alternate."""
    rng = np.random.default_rng(seed)
    n = 2 * SPLIT_BATCHES * batch
    features = {
        name: rng.standard_normal((n, *shape), dtype=np.float32)
        for name, shape in space.features
    }
    return FeatureBank(
        features=features,
        labels=rng.integers(0, space.classes, n),
        split=np.arange(n, dtype=np.int8) % 2,
        task="multiclass",
        classes=space.classes,
        info={"source": "benchmarks/search_step.py, random"},
    )


def build_search(
    bank: FeatureBank,
    space: SearchSpace,
    batch: int,
    seed: int,
    selection: str = "paper",
    precision: str = "fp32",
    device: str = "cpu",
) -> Search:
    training = Training(
        batch_size=batch,
        seed=seed,
        selection=selection,  # type: ignore[arg-type]
        precision=precision,  # type: ignore[arg-type]
        device=device,
    )
    return Search(bank, space, training, data="random")


def batch_indices(
    search: Search, batch: int, count: int, seed: int
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(validation batch, training batch) pairs, random, the same for every runner."""
    generator = torch.Generator().manual_seed(seed)

    def pick(index: torch.Tensor) -> torch.Tensor:
        return index[torch.randperm(len(index), generator=generator)[:batch]]

    return [(pick(search.val_index), pick(search.train_index)) for _ in range(count)]


class Runner(Protocol):
    def _step(self, index: torch.Tensor, architecture: bool) -> float: ...


# -- the straightforward hypernet (the released code's structure) -----------------
def edge_mixture(nodes: list[torch.Tensor], logits: torch.Tensor) -> torch.Tensor:
    """Softmax over {Identity, Zero} per edge; stack the nodes, weight, sum."""
    weights = torch.softmax(logits, dim=-1)[:, 0]
    stacked = torch.stack(nodes)
    return (stacked * weights.view(-1, *([1] * nodes[0].dim()))).sum(0)


class StraightforwardStep(nn.Module):
    """Every candidate op computed, Zero included, and summed weighted by softmax."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.candidates = nn.ModuleDict(
            {name: make_op(name, space.C, space.L, space.dropout) for name in space.ops}
        )

    def forward(
        self, a: torch.Tensor, b: torch.Tensor, logits: torch.Tensor
    ) -> torch.Tensor:
        weights = torch.softmax(logits, dim=-1)
        terms = [
            w * op(a, b)
            for w, op in zip(weights, self.candidates.values(), strict=True)
        ]
        return torch.stack(terms).sum(0)


class StraightforwardCell(nn.Module):
    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        self.steps = nn.ModuleList(
            StraightforwardStep(space) for _ in range(space.steps)
        )
        k = space.out_steps
        self.project = (
            ConvBNReLU(k * space.C, space.C, space.dropout) if k > 1 else None
        )
        self.norm = nn.LayerNorm([space.C, space.L])

    def forward(
        self,
        x: torch.Tensor,
        y: torch.Tensor,
        beta_a: list[torch.Tensor],
        beta_b: list[torch.Tensor] | None,
        gamma: list[torch.Tensor],
    ) -> torch.Tensor:
        inner = [x, y]
        for index, step in enumerate(self.steps):
            a = edge_mixture(inner, beta_a[index])
            b = a if beta_b is None else edge_mixture(inner, beta_b[index])
            inner.append(step(a, b, gamma[index]))
        outputs = inner[-self.space.out_steps :]
        h = outputs[0] if len(outputs) == 1 else self.project(torch.cat(outputs, dim=1))
        return self.norm(h + x)


class StraightforwardHypernet(nn.Module):
    """The same parameters, under the same names, as bmnas_dsl's Hypernet."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        self.reshape = nn.ModuleList(
            ConvBNReLU(shape[0], space.C, space.dropout) for _, shape in space.features
        )
        self.cells = nn.ModuleList(
            StraightforwardCell(space) for _ in range(space.cells)
        )
        self.head = Head(space.cells * space.C, space.L, space.classes)
        self.separate = space.mixing == "separate"

        def logits_list(shapes: list[tuple[int, ...]]) -> nn.ParameterList:
            return nn.ParameterList(
                nn.Parameter(1e-3 * torch.randn(*shape)) for shape in shapes
            )

        alpha = [(space.predecessors(k), 2) for k in range(space.cells)]
        beta = [(i + 2, 2) for _ in range(space.cells) for i in range(space.steps)]
        self.alpha_x = logits_list(alpha)
        self.alpha_y = logits_list(alpha) if self.separate else self.alpha_x
        self.beta_a = logits_list(beta)
        self.beta_b = logits_list(beta) if self.separate else self.beta_a
        self.gamma = logits_list([(len(space.ops),)] * (space.cells * space.steps))

    def arch_parameters(self) -> list[nn.Parameter]:
        groups = [self.alpha_x, self.beta_a, self.gamma]
        if self.separate:
            groups += [self.alpha_y, self.beta_b]
        return [p for group in groups for p in group]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def forward(self, pooled: list[torch.Tensor]) -> torch.Tensor:
        nodes = [reshape(f) for reshape, f in zip(self.reshape, pooled, strict=True)]
        steps = self.space.steps
        outputs = []
        for k, cell in enumerate(self.cells):
            allowed = nodes[: self.alpha_x[k].shape[0]]
            x = edge_mixture(allowed, self.alpha_x[k])
            y = edge_mixture(allowed, self.alpha_y[k]) if self.separate else x
            span = range(k * steps, (k + 1) * steps)
            out = cell(
                x,
                y,
                [self.beta_a[i] for i in span],
                [self.beta_b[i] for i in span] if self.separate else None,
                [self.gamma[i] for i in span],
            )
            outputs.append(out)
            nodes.append(out)
        return self.head(torch.cat(outputs, dim=1))


class StraightforwardSearch:
    """The released update: gradients of every parameter, then one optimiser steps."""

    def __init__(self, search: Search) -> None:
        torch.manual_seed(search.training.seed)
        self.model = StraightforwardHypernet(search.space)
        self.model.load_state_dict(search.model.state_dict())
        self.device = search.device
        self.model.to(self.device)
        # On a GPU the whole (small, random) bank is held there, as ours holds it.
        self.inputs = [torch.as_tensor(x).to(self.device) for x in search.inputs]
        self.labels = search.labels.to(self.device)
        self.loss = loss_function(search.space.task)
        training = search.training
        self.weight_optimiser = torch.optim.Adam(
            self.model.weight_parameters(),
            lr=training.weight_lr,
            weight_decay=training.weight_decay,
        )
        self.arch_optimiser = torch.optim.Adam(
            self.model.arch_parameters(),
            lr=training.arch_lr,
            betas=(0.5, 0.999),
            weight_decay=training.arch_weight_decay,
        )

    def _step(self, index: torch.Tensor, architecture: bool) -> float:
        self.model.train()
        self.weight_optimiser.zero_grad(set_to_none=True)
        self.arch_optimiser.zero_grad(set_to_none=True)
        index = index.to(self.device)
        inputs = [x[index] for x in self.inputs]
        loss = self.loss(self.model(inputs), self.labels[index])
        loss.backward()
        (self.arch_optimiser if architecture else self.weight_optimiser).step()
        return float(loss.detach())


def parity(search: Search, plain: StraightforwardSearch, index: torch.Tensor) -> dict:
    """Max |difference| of logits and of every gradient, training mode (batch statistics),
    dropout off: ours draws its masks with `rand_like`, the plain one with `bernoulli_`
    (same distribution, different random streams)."""
    ours, theirs = copy.deepcopy(search.model), copy.deepcopy(plain.model)
    for model in (ours, theirs):
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
    inputs = [torch.as_tensor(x[index]).to(search.device) for x in search.inputs]
    labels = search.labels[index].to(search.device)
    logits, grads = [], []
    for model in (ours, theirs):
        model.train()
        torch.manual_seed(12345)
        out = model(inputs)
        search.loss(out, labels).backward()
        logits.append(out.detach())
        grads.append(
            {n: p.grad for n, p in model.named_parameters() if p.grad is not None}
        )
    if grads[0].keys() != grads[1].keys():
        raise SystemExit("parity: the two hypernets have different parameters")
    return {
        "logits": float((logits[0] - logits[1]).abs().max()),
        "grads": max(float((grads[0][n] - grads[1][n]).abs().max()) for n in grads[0]),
    }


# -- timing --------------------------------------------------------------------------
def cpu_snapshot() -> tuple[float, float, float] | None:
    """(wall time, busy CPU seconds of the machine, CPU seconds of this process)."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    ticks = [int(f) for f in fields]
    busy = sum(ticks) - ticks[3] - ticks[4]  # all but idle and iowait
    own = os.times()
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), own.user + own.system


def foreign_cpu_share(start: tuple[float, float, float] | None) -> float | None:
    """The share of all CPUs' time that other processes used since `start`."""
    end = cpu_snapshot()
    if start is None or end is None:
        return None
    wall, busy, mine = (b - a for a, b in zip(start, end, strict=True))
    return max(0.0, busy - mine) / (wall * (os.cpu_count() or 1))


@contextmanager
def gc_off() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


Times = dict[str, dict[str, list[float]]]


def time_runners(
    runners: dict[str, Runner],
    batches: list[tuple[torch.Tensor, torch.Tensor]],
    warmup: int,
) -> tuple[Times, Times, float | None]:
    """Per runner, the wall ms and the minor page faults of each arch and weight step,
    the runners alternating; and the CPU share other processes took meanwhile."""
    times: Times = {name: {"weight": [], "arch": []} for name in runners}
    faults: Times = {name: {"weight": [], "arch": []} for name in runners}
    names = list(runners)
    for val, train in batches[:warmup]:
        for name in names:
            runners[name]._step(val, True)
            runners[name]._step(train, False)
    start = cpu_snapshot()
    with gc_off():
        for repeat, (val, train) in enumerate(batches[warmup:]):
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                for kind, index in (("arch", val), ("weight", train)):
                    before = minor_faults()
                    begin = time.perf_counter()
                    runners[name]._step(index, kind == "arch")
                    synchronise()
                    times[name][kind].append((time.perf_counter() - begin) * 1e3)
                    faults[name][kind].append(minor_faults() - before)
    return times, faults, foreign_cpu_share(start)


def synchronise() -> None:
    """Wait for the GPU (a CUDA update returns once its kernels are queued)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


# -- profile ---------------------------------------------------------------------------
@contextmanager
def frozen(search: Search, architecture: bool) -> Iterator[None]:
    """As Search._step: the set that is not trained does not require gradients."""
    model = search.model
    other = model.weight_parameters() if architecture else model.arch_parameters()
    for p in other:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in other:
            p.requires_grad_(True)


def timed_median(fn: Callable[[], Any], runs: int) -> float:
    for _ in range(2):
        fn()
    values = []
    with gc_off():
        for _ in range(runs):
            begin = time.perf_counter()
            fn()
            values.append((time.perf_counter() - begin) * 1e3)
    return median(values)


def stage_breakdown(search: Search, index: torch.Tensor, runs: int) -> dict:
    """Each stage of an update on its own, forward and backward, for both kinds."""
    search = copy.deepcopy(search)
    search.model.train()
    result = {}
    for kind in ("weight", "arch"):
        architecture = kind == "arch"
        with frozen(search, architecture):
            row = _stages(search, index, architecture, runs)
        row["sum of stages"] = round(sum(row.values()), 2)
        row["whole _step"] = timed_median(
            functools.partial(search._step, index, architecture), runs
        )
        result[kind] = row
    return result


def _stages(
    search: Search, index: torch.Tensor, architecture: bool, runs: int
) -> dict[str, float]:
    """Mirrors Hypernet.forward with the model's own parts (reshape layers, cells,
    head); the stage boundaries are detached leaves that require a gradient exactly
    when the real step computes one through them. Backward = (forward + backward) -
    forward."""
    from bmnas_dsl.search.hypernet import mix

    model = search.model
    inputs, labels = search.batch(index)
    same = search.space.mixing == "same"
    row = {"gather": timed_median(functools.partial(search.batch, index), runs)}

    def reshape() -> list[torch.Tensor]:
        return [r(f) for r, f in zip(model.reshape, inputs, strict=True)]

    nodes = reshape()
    ones = [torch.ones_like(n) for n in nodes]
    row["reshape fwd"] = timed_median(reshape, runs)
    row["reshape bwd"] = 0.0
    if nodes[0].requires_grad:
        both = timed_median(lambda: torch.autograd.backward(reshape(), ones), runs)
        row["reshape bwd"] = max(0.0, both - row["reshape fwd"])
    leaves = [n.detach().requires_grad_(not architecture) for n in nodes]

    def cells() -> torch.Tensor:
        current = list(leaves)
        outputs = []
        for cell, w in zip(model.cells, model.cell_weights(), strict=True):
            allowed = current[: len(w.alpha_x)]
            x = mix(allowed, w.alpha_x)
            y = x if same else mix(allowed, w.alpha_y)
            beta_b = w.beta_a if same else w.beta_b
            out = cell(x, y, w.beta_a, beta_b, w.gamma)
            outputs.append(out)
            current.append(out)
        return torch.cat(outputs, dim=1)

    z = cells()
    z_grad = torch.randn_like(z)
    row["cells fwd"] = timed_median(cells, runs)
    both = timed_median(lambda: cells().backward(z_grad), runs)
    row["cells bwd"] = max(0.0, both - row["cells fwd"])
    z_leaf = z.detach().requires_grad_(True)

    def head() -> torch.Tensor:
        return search.loss(model.head(z_leaf), labels)

    row["head+loss fwd"] = timed_median(head, runs)
    both = timed_median(lambda: head().backward(), runs)
    row["head+loss bwd"] = max(0.0, both - row["head+loss fwd"])
    optimiser = search.arch_optimiser if architecture else search.weight_optimiser
    row["optimiser step"] = timed_median(optimiser.step, runs)
    return row


def cell_forward_split(search: Search, index: torch.Tensor, runs: int) -> dict:
    """Forward ms per step of each cell part (module hooks), training mode."""
    search = copy.deepcopy(search)
    model = search.model
    model.train()
    inputs, _ = search.batch(index)
    totals: dict[str, float] = defaultdict(float)
    starts: dict[int, float] = {}

    def watch(module: nn.Module, label: str) -> None:
        def before(*_: Any) -> None:
            starts[id(module)] = time.perf_counter()

        def after(*_: Any) -> None:
            totals[label] += (time.perf_counter() - starts[id(module)]) * 1e3

        module.register_forward_pre_hook(before)
        module.register_forward_hook(after)

    for reshape in model.reshape:
        watch(reshape, "reshape layers")
    for cell in model.cells:
        watch(cell, "cells (all)")
        for step in cell.steps:
            for name, op in step.candidates.items():
                watch(op, f"op {name}")
        if cell.project is not None:
            watch(cell.project, "cell project")
        watch(cell.norm, "cell norm")
    watch(model.head, "head")
    per_run: dict[str, list[float]] = defaultdict(list)
    with torch.no_grad():
        for _ in range(2):
            model(inputs)
        with gc_off():
            for _ in range(runs):
                totals.clear()
                begin = time.perf_counter()
                model(inputs)
                whole = (time.perf_counter() - begin) * 1e3
                inner = sum(
                    v for k, v in totals.items() if k.startswith(("op ", "cell "))
                )
                totals["cell mixing and sums"] = totals["cells (all)"] - inner
                outside = totals["cells (all)"] + totals["reshape layers"]
                totals["cell-input mixing and rest"] = whole - outside - totals["head"]
                totals["whole forward (no grad)"] = whole
                for label, ms in totals.items():
                    per_run[label].append(ms)
    return {label: median(values) for label, values in per_run.items()}


# The operators that do the FLOPs FlopCounterMode counts (convolutions and matmuls).
DENSE = {
    "aten::mkldnn_convolution",
    "aten::convolution_backward",
    "aten::mm",
    "aten::addmm",
    "aten::bmm",
    "aten::baddbmm",
}


def top_operators(runner: Runner, index: torch.Tensor, runs: int, rows: int) -> dict:
    """The torch operators with the most self CPU time, ms per step."""
    from torch.profiler import ProfilerActivity, profile

    result = {}
    for kind in ("weight", "arch"):
        for _ in range(2):
            runner._step(index, kind == "arch")
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(runs):
                runner._step(index, kind == "arch")
        events = sorted(
            prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True
        )
        total = sum(e.self_cpu_time_total for e in events) / 1e3 / runs
        dense = sum(e.self_cpu_time_total for e in events if e.key in DENSE) / 1e3
        flops = count_flops(lambda kind=kind: runner._step(index, kind == "arch"))
        result[kind] = {
            "total self ms": round(total, 2),
            # The kernels that do every FLOP FlopCounterMode counts, and their rate.
            "dense ms": round(dense / runs, 2),
            "dense gflops": round(achieved(flops, dense / runs), 1),
            "top": [
                (e.key, round(e.self_cpu_time_total / 1e3 / runs, 2), e.count // runs)
                for e in events[:rows]
            ],
        }
    return result


# -- prototypes of package changes (patched copies; the package is not modified) ------
class RandDropout(nn.Module):
    """Dropout with the mask from rand_like(x) >= p (uniform_ is ~2x cheaper than
    bernoulli_ on CPU); the same distribution, another random stream."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        return x * torch.rand_like(x).ge_(self.p).mul_(1.0 / (1.0 - self.p))


def prototype_rand_dropout(search: Search) -> None:
    for module in list(search.model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is nn.Dropout:
                setattr(module, name, RandDropout(child.p))


def prototype_fused_adam(search: Search) -> None:
    training = search.training
    search.weight_optimiser = torch.optim.Adam(
        search.model.weight_parameters(),
        lr=training.weight_lr,
        weight_decay=training.weight_decay,
        fused=True,
    )
    search.arch_optimiser = torch.optim.Adam(
        search.model.arch_parameters(),
        lr=training.arch_lr,
        betas=(0.5, 0.999),
        weight_decay=training.arch_weight_decay,
        fused=True,
    )


def _same_input_conv(conv: nn.Conv1d, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """conv(cat([x, y])); when y is x, one conv with the two halves of the kernel summed
    (half the work, gradients identical: both halves get a x^T)."""
    if y is x:
        half = conv.weight.shape[1] // 2
        weight = conv.weight[:, :half] + conv.weight[:, half:]
        return nn.functional.conv1d(x, weight, conv.bias)
    return conv(torch.cat([x, y], dim=1))


def _folded_glu(self: LinearGLU, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    h = self.bn(_same_input_conv(self.conv, x, y))
    return self.drop(nn.functional.glu(h, dim=1))


def _folded_fc(self: ConcatFC, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return self.drop(torch.relu(self.bn(_same_input_conv(self.conv, x, y))))


def prototype_fold_same_input(search: Search) -> None:
    for module in search.model.modules():
        if isinstance(module, LinearGLU):
            module.forward = types.MethodType(_folded_glu, module)
        elif isinstance(module, ConcatFC):
            module.forward = types.MethodType(_folded_fc, module)


def prototype_index_select(search: Search) -> None:
    def batch(index: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        return (
            [x.index_select(0, index) for x in search.inputs],
            search.labels.index_select(0, index),
        )

    search.batch = batch  # type: ignore[method-assign]


PROTOTYPES: dict[str, Callable[[Search], None]] = {
    "rand_dropout": prototype_rand_dropout,
    "fused_adam": prototype_fused_adam,
    "fold_same_input": prototype_fold_same_input,
    "index_select": prototype_index_select,
}


def run_prototypes(
    bank: FeatureBank,
    space: SearchSpace,
    args: argparse.Namespace,
    batches: list[tuple[torch.Tensor, torch.Tensor]],
) -> tuple[dict[str, dict[str, float]], dict[str, Search], float | None]:
    variants: dict[str, list[Callable[[Search], None]]] = {"baseline": []}
    for name, patch in PROTOTYPES.items():
        if name == "fold_same_input" and space.mixing != "same":
            continue
        variants[name] = [patch]
    variants["all"] = [patch for name, patches in variants.items() for patch in patches]
    searches = {}
    for name, patches in variants.items():
        search = build_search(bank, space, args.batch, args.seed)
        for patch in patches:
            patch(search)
        searches[name] = search
    times, _, foreign = time_runners(dict(searches), batches, WARMUP)
    table = {}
    for name, kinds in times.items():
        table[name] = {kind: median(values) for kind, values in kinds.items()}
    base = table["baseline"]
    for row in table.values():
        row["weight_gain_ms"] = round(base["weight"] - row["weight"], 2)
        row["arch_gain_ms"] = round(base["arch"] - row["arch"], 2)
    return table, searches, foreign


def tune_malloc() -> bool:
    """glibc: serve blocks up to 32 MB from the heap and never trim it, so that the
    buffers freed by one update are reused by the next instead of being unmapped and
    page-faulted in again (M_MMAP_THRESHOLD = -3, M_TRIM_THRESHOLD = -1)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(-3, 32 << 20)) and bool(mallopt(-1, 1 << 30))


# -- main ------------------------------------------------------------------------------
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", choices=sorted(CONFIGS), default="ntu")
    parser.add_argument("--batch", type=int, default=96)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--space", choices=sorted(SPACES), default="official")
    parser.add_argument("--mixing", choices=("same", "separate"), default="same")
    parser.add_argument(
        "--selection",
        choices=("paper", "sample"),
        default="paper",
        help="paper (default): the whole supernet, the mathematics of the "
        "straightforward and the released step; sample: bmnas search's default, "
        "each update on one sampled input pair (less work: not comparable)",
    )
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=("fp32", "bf16"),
        default=["fp32", "bf16"],
        help="ours is timed in each (fp32 always)",
    )
    parser.add_argument(
        "--released-code",
        metavar="DIR",
        help="a checkout of github.com/Somedaywilldo/BM-NAS: its supernet is timed "
        "side by side (benchmarks/released_supernet.py); --config ntu only",
    )
    parser.add_argument(
        "--compile",
        action="store_true",
        help="also time ours with the hypernet under torch.compile (compile time too)",
    )
    parser.add_argument(
        "--compile-mode",
        default="default",
        choices=COMPILE_MODES,
        help="torch.compile's mode with --compile (reduce-overhead: CUDA graphs on a GPU)",
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="where ours and the straightforward runner compute (cpu, cuda, cuda:N); "
        "the released code is timed on the CPU only",
    )
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    parser.add_argument(
        "--out",
        default=str(RESULTS),
        help=f"the JSON written (default: {RESULTS.relative_to(RESULTS.parents[2])})",
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--prototypes", action="store_true")
    parser.add_argument(
        "--tune-malloc",
        action="store_true",
        help="glibc mallopt: keep freed memory for reuse (a prototype, whole process)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.batch < 1 or args.threads < 1:
        parser.error("--repeats, --batch and --threads must be positive")
    if args.released_code and args.config != "ntu":
        parser.error("--released-code: the released supernet is built for --config ntu")
    if args.released_code and args.device != "cpu":
        parser.error("--released-code: the released supernet is timed on the CPU only")
    if "fp32" not in args.precisions:
        args.precisions.insert(0, "fp32")
    return args


def print_table(title: str, rows: dict[str, dict[str, Any]], out: Any) -> None:
    columns = list(next(iter(rows.values())))
    width = max(len(name) for name in rows) + 2
    print(title, file=out)
    print(
        f"{'':<{width}}" + "".join(f"{c:>14}" for c in columns),
        file=out,
    )
    for name, row in rows.items():
        cells = "".join(
            f"{row[c]:>14.2f}" if isinstance(row[c], float) else f"{row[c]!s:>14}"
            for c in columns
        )
        print(f"{name:<{width}}" + cells, file=out)
    print(file=out)


def step_flops(runner: Runner, index: tuple[torch.Tensor, torch.Tensor]) -> dict:
    """FLOPs of one architecture and one weight update, counted on a copy (counting
    runs the update, which must not move the timed runner's state)."""
    twin = copy.deepcopy(runner)
    val, train = index
    return {
        "arch": count_flops(lambda: twin._step(val, True)),
        "weight": count_flops(lambda: twin._step(train, False)),
    }


# aten's random draws: each fills its output with numbers of the generator's stream.
RANDOM_OPS = {
    *("uniform_", "bernoulli_", "random_", "normal_", "exponential_", "bernoulli"),
    *("rand", "rand_like", "randn", "randn_like", "randint", "randint_like"),
}


class _RandomCounter(TorchDispatchMode):
    """Counts the random numbers drawn (the elements the random ops fill)."""

    def __init__(self) -> None:
        super().__init__()
        self.numbers = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        if func.overloadpacket.__name__ in RANDOM_OPS:
            self.numbers += result.numel()
        return result


def random_numbers(runner: Runner, index: tuple[torch.Tensor, torch.Tensor]) -> int:
    """Random numbers one architecture and one weight update draw (dropout masks),
    counted on a copy."""
    twin = copy.deepcopy(runner)
    val, train = index
    with _RandomCounter() as counter:
        twin._step(val, True)
        twin._step(train, False)
    return counter.numbers


def step_floor(
    flops: int, numbers: int, roof_gflops: float, runs: int = 9
) -> dict[str, float]:
    """What no rewrite of the same mathematics goes below on this CPU, measured now:
    every counted FLOP at the fp32 roofline, plus drawing the update's random numbers
    (the CPU generator is a serial Mersenne Twister, and the masks must be the same)."""
    draw = timed_median(lambda: torch.rand(numbers), runs)
    return {
        "flops_at_roofline_ms": round(flops / (roof_gflops * 1e9) * 1e3, 2),
        "random_numbers": numbers,
        "random_draw_ms": round(draw, 2),
        "floor_ms": round(flops / (roof_gflops * 1e9) * 1e3 + draw, 2),
    }


def compiled_search(
    search: Search, batches: list, mode: str = "default"
) -> tuple[Search, dict[str, float]]:
    """A copy of `search` whose hypernet runs under torch.compile in `mode`, and the
    seconds its first architecture and first weight update took (each compiles its
    graphs), on a cold cache."""
    cold_compile_cache()
    twin = copy.deepcopy(search)
    twin.model = torch.compile(twin.model, mode=mode)  # type: ignore[assignment]
    seconds = {}
    val, train = batches[0]
    for kind, index in (("arch", val), ("weight", train)):
        begin = time.perf_counter()
        twin._step(index, kind == "arch")
        seconds[kind] = round(time.perf_counter() - begin, 1)
    return twin, seconds


def released_runner(args: argparse.Namespace, search: Search, space: SearchSpace):
    """The authors' supernet on the same data (benchmarks/released_supernet.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from released_supernet import ReleasedSearch

    return ReleasedSearch(
        args.released_code,
        list(search.inputs),
        search.labels,
        C=space.C,
        L=space.L,
        classes=space.classes,
        dropout=space.dropout,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    warnings.filterwarnings(
        "ignore", message="Converting a tensor with requires_grad=True to a scalar"
    )
    malloc_tuned = tune_malloc() if args.tune_malloc else False
    torch.set_num_threads(args.threads)
    space, spec = make_space(args.config, args.space, args.mixing)
    bank = random_bank(space, args.batch, args.seed)
    search = build_search(
        bank, space, args.batch, args.seed, args.selection, device=args.device
    )
    plain = StraightforwardSearch(search)
    batches = batch_indices(search, args.batch, WARMUP + args.repeats, args.seed + 1)
    check = parity(search, plain, batches[0][1])
    runners: dict[str, Runner] = {"ours": search, "plain": plain}
    for precision in args.precisions[1:]:
        runners[f"ours {precision}"] = build_search(
            bank, space, args.batch, args.seed, args.selection, precision, args.device
        )
    compile_seconds = None
    if args.compile:
        runners["ours compiled"], compile_seconds = compiled_search(
            search, batches, args.compile_mode
        )
    if args.released_code:
        runners["released"] = released_runner(args, search, space)
    flops = {name: step_flops(runner, batches[0]) for name, runner in runners.items()}
    if search.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(search.device)
    times, faults, foreign = time_runners(runners, batches, WARMUP)
    roof_shape = reshape_shape(
        args.batch, space.L, [shape[0] for _, shape in space.features], space.C
    )
    roof = rooflines(roof_shape, device=search.device)
    medians = {
        name: {kind: median(values) for kind, values in kinds.items()}
        for name, kinds in times.items()
    }
    rows: dict[str, dict[str, Any]] = {}
    for name, ms in medians.items():
        both = ms["weight"] + ms["arch"]
        total = flops[name]["weight"] + flops[name]["arch"]
        rate = achieved(total, both)
        precision = name.split()[-1] if name.split()[-1] in roof else "fp32"
        rows[name] = {
            "weight_ms": ms["weight"],
            "arch_ms": ms["arch"],
            "both_ms": round(both, 2),
            "gflop": round(total / 1e9, 6),
            "gflops": round(rate, 3),
            "of_fp32_roofline": round(rate / roof["fp32"], 4),
            "of_own_roofline": round(rate / roof[precision], 4),
        }
    ours = rows["ours"]
    result: dict[str, Any] = {
        "benchmark": "search_step",
        "config": args.config,
        "space": args.space,
        "ops": list(space.ops),
        "mixing": args.mixing,
        "selection": args.selection,
        "batch": args.batch,
        "threads": args.threads,
        "device": str(search.device),
        "repeats": args.repeats,
        "torch": torch.__version__,
        "malloc_tuned": malloc_tuned,
        "roofline_shape": list(roof_shape),
        "roofline_gflops": roof,
        "runners": rows,
        # The figures of earlier versions of this benchmark, under their names.
        "weight_step_ms": ours["weight_ms"],
        "arch_step_ms": ours["arch_ms"],
        "straightforward_weight_step_ms": rows["plain"]["weight_ms"],
        "straightforward_arch_step_ms": rows["plain"]["arch_ms"],
        "speedup_weight": round(rows["plain"]["weight_ms"] / ours["weight_ms"], 2),
        "speedup_arch": round(rows["plain"]["arch_ms"] / ours["arch_ms"], 2),
        "speedup_both": round(rows["plain"]["both_ms"] / ours["both_ms"], 2),
    }
    if compile_seconds is not None:
        result["compile_seconds"] = compile_seconds
        result["compile_mode"] = args.compile_mode
        gain = ours["both_ms"] - rows["ours compiled"]["both_ms"]
        result["compile_break_even_steps"] = (
            round(sum(compile_seconds.values()) * 1e3 / gain) if gain > 0 else None
        )
    if "released" in rows:
        released = rows["released"]
        result["speedup_vs_released_weight"] = round(
            released["weight_ms"] / ours["weight_ms"], 2
        )
        result["speedup_vs_released_arch"] = round(
            released["arch_ms"] / ours["arch_ms"], 2
        )
        result["speedup_vs_released"] = round(released["both_ms"] / ours["both_ms"], 2)
        if search.device.type == "cpu":
            floor = step_floor(
                flops["ours"]["weight"] + flops["ours"]["arch"],
                random_numbers(search, batches[0]),
                roof["fp32"],
            )
            floor["bound_speedup_vs_released"] = round(
                released["both_ms"] / floor["floor_ms"], 2
            )
            result["floor"] = floor
    conditions = {key: getattr(args, key) for key in ISSUE_CONDITIONS}
    if conditions == ISSUE_CONDITIONS:
        result["goal"] = {
            "roofline_fraction": GOAL_ROOFLINE,
            "speedup_vs_released": GOAL_SPEEDUP,
            "stretch_speedup_vs_released": GOAL_SPEEDUP_STRETCH,
            "roofline_met": ours["of_fp32_roofline"] >= GOAL_ROOFLINE,
            "speedup_met": (
                result["speedup_vs_released"] >= GOAL_SPEEDUP
                if "released" in rows
                else None  # not measured: no --released-code
            ),
        }
    if search.device.type == "cuda":
        result["peak_gpu_memory_mib"] = round(
            torch.cuda.max_memory_allocated(search.device) / 2**20, 1
        )
    result["minor_faults_per_step"] = {
        kind: statistics.median(values) for kind, values in faults["ours"].items()
    }
    result["parity_max_abs_diff"] = check
    result["foreign_cpu_share"] = None if foreign is None else round(foreign, 3)
    result["load_average"] = [round(v, 2) for v in os.getloadavg()]
    out = sys.stderr if args.json else sys.stdout
    if args.prototypes:
        table, searches, share = run_prototypes(bank, space, args, batches)
        result["prototypes"] = table
        result["prototypes_foreign_cpu_share"] = (
            None if share is None else round(share, 3)
        )
    if not args.json:
        print_summary(result, spec, out)
    if args.prototypes:
        print_table(
            "Prototype package changes, median ms per step (gain = baseline - it)",
            result["prototypes"],
            out,
        )
    if args.profile:
        print_profile(search, searches if args.prototypes else {}, batches, args, out)
    if foreign is not None and foreign > 0.10:
        print(
            f"warning: other processes used {foreign:.0%} of the machine's CPU time "
            "while timing; the figures are not trustworthy",
            file=sys.stderr,
        )
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out_path, json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    return 0


def print_profile(
    search: Search,
    searches: dict[str, Search],
    batches: list,
    args: argparse.Namespace,
    out: Any,
) -> None:
    runs = max(5, min(args.repeats, 20))
    index = batches[0][1]
    profiles = {"ours": search}
    if "all" in searches:
        profiles["ours + all prototypes"] = searches["all"]
    for label, target in profiles.items():
        breakdown = stage_breakdown(target, index, runs)
        print_table(
            f"Stages of one update, {label}, median ms",
            {
                stage: {"weight": ms, "arch": breakdown["arch"][stage]}
                for stage, ms in breakdown["weight"].items()
            },
            out,
        )
        split = cell_forward_split(target, index, runs)
        print_table(
            f"Forward (no grad, training mode) by part, {label}, ms",
            {part: {"ms": ms} for part, ms in split.items()},
            out,
        )
    operators = top_operators(search, index, runs, 15)
    roof = rooflines(
        reshape_shape(
            args.batch,
            search.space.L,
            [shape[0] for _, shape in search.space.features],
            search.space.C,
        )
    )["fp32"]
    for kind, data in operators.items():
        share = data["dense ms"] / data["total self ms"]
        print(
            f"Heaviest torch operators, ours, {kind} step "
            f"(self CPU, {data['total self ms']} ms per step in all). Convolutions "
            f"and matmuls: {data['dense ms']} ms ({share:.0%}) at "
            f"{data['dense gflops']} GFLOP/s, {data['dense gflops'] / roof:.0%} of "
            f"the fp32 roofline ({roof} GFLOP/s); the rest does no counted FLOP",
            file=out,
        )
        for key, ms, count in data["top"]:
            print(f"  {key:<45} {ms:>8.2f} ms  x{count}", file=out)
        print(file=out)


COLUMNS = {
    "weight_ms": "weight ms",
    "arch_ms": "arch ms",
    "both_ms": "both ms",
    "gflop": "GFLOP",
    "gflops": "GFLOP/s",
    "of_fp32_roofline": "of fp32 roof",
    "of_own_roofline": "of own roof",
}
LABELS = {
    "ours": "ours (Search._step)",
    "plain": "straightforward",
    "ours bf16": "ours, bf16 autocast",
    "ours compiled": "ours, torch.compile",
    "released": "released (authors' code)",
}


def print_summary(result: dict[str, Any], spec: dict[str, Any], out: Any) -> None:
    print(
        f"Search step, config {result['config']} ({len(spec['features'])} features, "
        f"C={spec['C']}, L={spec['L']}, {spec['cells']} cells x {spec['steps']} steps, "
        f"{spec['classes']} classes), space {result['space']} "
        f"({', '.join(result['ops'])}), mixing {result['mixing']}, selection "
        f"{result['selection']}, batch {result['batch']}, {result['threads']} threads, "
        f"{result['repeats']} repeats, torch {result['torch']}",
        file=out,
    )
    rows = {
        LABELS.get(name, name): {heading: row[key] for key, heading in COLUMNS.items()}
        for name, row in result["runners"].items()
    }
    print_table("Median ms per update, FLOPs, achieved rate", rows, out)
    roof = result["roofline_gflops"]
    m, k, n = result["roofline_shape"]
    print(
        f"roofline (this process, {m}x{k} by {k}x{n} matmul): fp32 {roof['fp32']} "
        f"GFLOP/s, bf16 {roof['bf16']} GFLOP/s",
        file=out,
    )
    print(
        f"speed-up over straightforward: weight {result['speedup_weight']}x, arch "
        f"{result['speedup_arch']}x, both {result['speedup_both']}x",
        file=out,
    )
    if "speedup_vs_released" in result:
        print(
            f"speed-up over the released code, side by side: weight "
            f"{result['speedup_vs_released_weight']}x, arch "
            f"{result['speedup_vs_released_arch']}x, both "
            f"{result['speedup_vs_released']}x",
            file=out,
        )
    if "floor" in result:
        floor = result["floor"]
        print(
            f"floor of ours: every counted FLOP at the fp32 roofline "
            f"{floor['flops_at_roofline_ms']} ms + drawing its "
            f"{floor['random_numbers']:,} dropout random numbers "
            f"{floor['random_draw_ms']} ms = {floor['floor_ms']} ms a pair, so at most "
            f"{floor['bound_speedup_vs_released']}x the released code on this machine now",
            file=out,
        )
    if "compile_seconds" in result:
        seconds = result["compile_seconds"]
        print(
            f"torch.compile: first arch update {seconds['arch']} s, first weight "
            f"update {seconds['weight']} s; pays back after "
            f"{result['compile_break_even_steps'] or 'never (not faster)'} updates",
            file=out,
        )
    goal = result.get("goal")
    if goal:
        speed = goal["speedup_met"]
        print(
            f"issue 15 goal: >= {goal['roofline_fraction']:.0%} of the fp32 roofline: "
            f"{'met' if goal['roofline_met'] else 'NOT met'}; >= "
            f"{goal['speedup_vs_released']}x the released code: "
            + (
                "not measured (pass --released-code)"
                if speed is None
                else ("met" if speed else "NOT met")
            ),
            file=out,
        )
    print(
        f"parity (max |diff|): logits {result['parity_max_abs_diff']['logits']:.2e}, "
        f"gradients {result['parity_max_abs_diff']['grads']:.2e}; other processes "
        f"took {result['foreign_cpu_share']} of the CPU time; minor page faults per "
        f"step (ours, median): weight {result['minor_faults_per_step']['weight']}, "
        f"arch {result['minor_faults_per_step']['arch']}",
        file=out,
    )
    print(file=out)


if __name__ == "__main__":
    sys.exit(main())
