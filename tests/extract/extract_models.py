"""Small backbones for the extraction tests (imported by name: pytest puts this folder
on sys.path for its test modules)."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch
from torch import nn

INPUT = 10  # features of one sample of the toy inputs


class Maps(nn.Module):
    """Layers that give maps of every kind position pooling meets at L = 4: d1 not a
    multiple of L (gather), a multiple (fold), smaller than L, equal to L, a video-like
    (C, T, H, W) map, and a vector. FX-traceable."""

    SHAPES: ClassVar[dict[str, tuple[int, ...]]] = {
        "gather": (6, 13, 4),
        "fold": (5, 8, 2, 3),
        "small": (4, 3),
        "equal": (7, 4),
        "video": (16, 8, 4, 4),
        "vector": (9,),
    }

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(INPUT, 32), nn.Tanh())
        for name, shape in self.SHAPES.items():
            self.add_module(
                name,
                nn.Sequential(nn.Linear(32, math.prod(shape)), nn.Unflatten(1, shape)),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.trunk(x)
        return sum(getattr(self, name)(h).sum() for name in self.SHAPES)


class Branchy(nn.Module):
    """Not FX-traceable: the forward pass branches on the data."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(INPUT, 24), nn.ReLU())
        self.up = nn.Sequential(nn.Linear(24, 12), nn.Unflatten(1, (3, 4)))
        self.down = nn.Linear(24, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.body(x)
        if h.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            h = h * 2
        return self.up(h).flatten(1).sum(1) + self.down(h).sum(1)


class WithHead(nn.Module):
    """A captured layer, then a head that FX capture does not run."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Linear(INPUT, 6), nn.Unflatten(1, (2, 3)))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(6, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Noisy(nn.Module):
    """Dropout and batch norm: features depend on the mode."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 8, 3, padding=1)
        self.norm = nn.BatchNorm1d(8)
        self.drop = nn.Dropout(0.5)
        self.block = nn.Sequential(nn.Conv1d(8, 8, 3, padding=1), nn.ReLU())
        with torch.no_grad():  # running statistics far from a batch's own
            self.norm.running_mean.uniform_(-1, 1)
            self.norm.running_var.uniform_(0.5, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(self.drop(self.norm(self.conv(x.unsqueeze(1)))))


class Twice(nn.Module):
    """One module called twice in a forward pass."""

    def __init__(self) -> None:
        super().__init__()
        self.shared = nn.Linear(INPUT, INPUT)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shared(self.shared(x))


class Recurrent(nn.Module):
    """An LSTM: its module returns a tuple, not a tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(INPUT, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x.unsqueeze(1))[0]


class Counting(nn.Module):
    """Python state the trace bakes in: a graph that differs from the eager model."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = Scale()
        self.out = nn.Sequential(nn.Linear(INPUT, 6), nn.Unflatten(1, (2, 3)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.scale(x))


class Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return x * self.calls


def seeded(model: nn.Module, seed: int = 0) -> nn.Module:
    """The model with weights drawn from `seed` (the same seed: the same weights)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for tensor in model.parameters():
            tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.5)
    return model


def toy_data(
    rows: int = 40, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs (rows, INPUT), 3-class labels and a split with every part."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, INPUT)).astype(np.float32)
    labels = np.arange(rows) % 3
    split = np.tile(np.array([0, 0, 1, 2], dtype=np.int8), rows // 4 + 1)[:rows]
    return x, labels, split
