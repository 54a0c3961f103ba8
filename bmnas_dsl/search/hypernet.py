"""The BM-NAS hypernet (paper sections 3.2-3.3, shared/spec/semantics.md).

Upper level: each cell's input is a mixture of all its allowed predecessors in
S = [features, cells], weighted by alpha over {Identity, Zero}. Lower level: inside a
cell, each step's operands are mixtures of the earlier inner nodes [x, y, steps], weighted
by beta, and its output is the gamma-weighted sum of the candidate ops. Every layer is
the one definition in bmnas_dsl.nn.layers, so derived networks compute what was searched.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from bmnas_dsl.ir.ops import OPS
from bmnas_dsl.nn import layers
from bmnas_dsl.nn.layers import ConcatFC, ConvBNReLU, Head, LinearGLU
from bmnas_dsl.parallel.layers import GlobalDropout
from bmnas_dsl.search.space import SearchSpace


def make_op(name: str, C: int, L: int, dropout: float) -> nn.Module:
    """The op's layer, built as its registry entry says (bmnas_dsl.ir.ops)."""
    spec = OPS[name]
    values = {"C": C, "L": L, "dropout": dropout}
    return getattr(layers, spec.layer)(*(values[arg] for arg in spec.args))


class SearchDropout(GlobalDropout):
    """nn.Dropout with masks drawn by `rand_like`: the same distribution (keep with
    probability 1 - p, scale by 1 / (1 - p)), but on these CPUs about twice as fast as
    `bernoulli_`, which took a fifth of a search step (benchmarks/search_step.py). A
    GlobalDropout, so that a distributed search draws the global batch's mask."""

    def __init__(self, p: float) -> None:
        super().__init__(p, "uniform")


def same_input(op: nn.Module, a: torch.Tensor) -> torch.Tensor:
    """op(a, a) for LinearGLU and ConcatFC with half the convolution work: with the same
    mixture as both operands, cat([a, a]) through W equals a through W[:, :C] + W[:, C:].
    The same function as the layer (tested), with the layer's own parameters."""
    weight = op.conv.weight
    half = weight.shape[1] // 2
    h = op.bn(
        nn.functional.conv1d(a, weight[:, :half] + weight[:, half:], op.conv.bias)
    )
    if isinstance(op, LinearGLU):
        return op.drop(nn.functional.glu(h, dim=1))
    return op.drop(torch.relu(h))


FOLDABLE = (LinearGLU, ConcatFC)


def identity_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Softmax over {Identity, Zero} per edge; the Identity column."""
    return torch.softmax(logits, dim=-1)[..., 0]


def mix(nodes: list[torch.Tensor], weights: torch.Tensor) -> torch.Tensor:
    """Sum of the nodes weighted by their Identity probabilities (Zero adds nothing)."""
    total = nodes[0] * weights[0]
    for node, weight in zip(nodes[1:], weights[1:], strict=True):
        total = total + node * weight
    return total


class MixedStep(nn.Module):
    """One step's candidate ops. Zero contributes nothing, so it is never computed."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.names = list(space.ops)
        self.candidates = nn.ModuleDict(
            {
                name: make_op(name, space.C, space.L, space.dropout)
                for name in space.ops
                if name != "Zero"
            }
        )

    def forward(
        self, a: torch.Tensor, b: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        total = None
        for index, name in enumerate(self.names):
            if name == "Zero":
                continue
            op = self.candidates[name]
            value = (
                same_input(op, a) if b is a and isinstance(op, FOLDABLE) else op(a, b)
            )
            term = weights[index] * value
            total = term if total is None else total + term
        return total if total is not None else torch.zeros_like(a)


class SearchCell(nn.Module):
    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        self.steps = nn.ModuleList(MixedStep(space) for _ in range(space.steps))
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
        beta_b: list[torch.Tensor],
        gamma: list[torch.Tensor],
    ) -> torch.Tensor:
        inner = [x, y]
        for index, step in enumerate(self.steps):
            a = mix(inner, beta_a[index])
            b = a if beta_b is beta_a else mix(inner, beta_b[index])
            inner.append(step(a, b, gamma[index]))
        outputs = inner[-self.space.out_steps :]
        h = outputs[0] if len(outputs) == 1 else self.project(torch.cat(outputs, dim=1))
        return self.norm(h + x)


@dataclass
class CellWeights:
    """Softmaxed architecture weights of one cell (what the JSONL log and derivation read)."""

    alpha_x: torch.Tensor
    alpha_y: torch.Tensor
    beta_a: list[torch.Tensor]
    beta_b: list[torch.Tensor]
    gamma: list[torch.Tensor]


class Hypernet(nn.Module):
    """Takes features already pooled to (N, C_in, L) (the search pools them once)."""

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.space = space
        self.reshape = nn.ModuleList(
            ConvBNReLU(shape[0], space.C, space.dropout) for _, shape in space.features
        )
        self.cells = nn.ModuleList(SearchCell(space) for _ in range(space.cells))
        self.head = Head(space.cells * space.C, space.L, space.classes)
        separate = space.mixing == "separate"

        def logits(*shape: int) -> nn.Parameter:
            return nn.Parameter(1e-3 * torch.randn(*shape))

        self.alpha_x = nn.ParameterList(
            logits(space.predecessors(k), 2) for k in range(space.cells)
        )
        self.alpha_y = (
            nn.ParameterList(
                logits(space.predecessors(k), 2) for k in range(space.cells)
            )
            if separate
            else self.alpha_x
        )
        inner = [i + 2 for i in range(space.steps)]
        self.beta_a = nn.ParameterList(
            logits(n, 2) for _ in range(space.cells) for n in inner
        )
        self.beta_b = (
            nn.ParameterList(logits(n, 2) for _ in range(space.cells) for n in inner)
            if separate
            else self.beta_a
        )
        self.gamma = nn.ParameterList(
            logits(len(space.ops)) for _ in range(space.cells * space.steps)
        )
        for module in list(self.modules()):
            for name, child in module.named_children():
                if type(child) is nn.Dropout:
                    setattr(module, name, SearchDropout(child.p))

    def arch_parameters(self) -> list[nn.Parameter]:
        groups = [self.alpha_x, self.beta_a, self.gamma]
        if self.space.mixing == "separate":
            groups += [self.alpha_y, self.beta_b]
        return [p for group in groups for p in group]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def cell_weights(self) -> list[CellWeights]:
        steps = self.space.steps
        result = []
        for k in range(self.space.cells):
            span = slice(k * steps, (k + 1) * steps)
            result.append(
                CellWeights(
                    alpha_x=identity_probabilities(self.alpha_x[k]),
                    alpha_y=identity_probabilities(self.alpha_y[k]),
                    beta_a=[identity_probabilities(b) for b in self.beta_a[span]],
                    beta_b=[identity_probabilities(b) for b in self.beta_b[span]],
                    gamma=[torch.softmax(g, dim=-1) for g in self.gamma[span]],
                )
            )
        return result

    def forward(
        self,
        pooled: list[torch.Tensor],
        pairs: list[tuple[int, int]] | None = None,
    ) -> torch.Tensor:
        """The supernet; with `pairs`, cell k reads exactly nodes pairs[k] = (x, y) of S
        instead of the alpha mixture (`--selection sample`), as the derived network
        will: only the features named are reshaped."""
        if pairs is not None:
            return self._forward_pairs(pooled, pairs)
        nodes = [reshape(f) for reshape, f in zip(self.reshape, pooled, strict=True)]
        same = self.space.mixing == "same"
        outputs = []
        for cell, weights in zip(self.cells, self.cell_weights(), strict=True):
            allowed = nodes[: len(weights.alpha_x)]
            x = mix(allowed, weights.alpha_x)
            y = x if same else mix(allowed, weights.alpha_y)
            beta_b = weights.beta_a if same else weights.beta_b
            out = cell(x, y, weights.beta_a, beta_b, weights.gamma)
            outputs.append(out)
            nodes.append(out)
        return self.head(torch.cat(outputs, dim=1))

    def _forward_pairs(
        self, pooled: list[torch.Tensor], pairs: list[tuple[int, int]]
    ) -> torch.Tensor:
        features = len(self.reshape)
        reshaped: dict[int, torch.Tensor] = {}
        outputs: list[torch.Tensor] = []

        def node(index: int) -> torch.Tensor:
            if index >= features:
                return outputs[index - features]
            if index not in reshaped:
                reshaped[index] = self.reshape[index](pooled[index])
            return reshaped[index]

        same = self.space.mixing == "same"
        weights = self.cell_weights()
        for cell, w, (i, j) in zip(self.cells, weights, pairs, strict=True):
            beta_b = w.beta_a if same else w.beta_b
            outputs.append(cell(node(i), node(j), w.beta_a, beta_b, w.gamma))
        return self.head(torch.cat(outputs, dim=1))
