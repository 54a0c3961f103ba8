"""The layers of BM-NAS fusion networks: the one definition of each op, cell part and head.

The search runtime imports these classes, and `bmnas compile` copies the source of the
ones a genotype uses into the generated module, so both compute the same function.
Rules for this file: the classes may use only `torch` and `nn` (the generated module's
imports), take plain numbers as arguments, and stay exportable by torch.onnx's dynamo
exporter. Semantics are those of shared/spec/semantics.md (the authors' released code).
"""

import torch
from torch import nn


def pointwise(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """conv(x) for a kernel-1 Conv1d (a fully connected layer at every position).

    ONNX Runtime runs these convolutions about 2x slower than a MatMul over (N, L, C),
    while eager PyTorch is fastest with Conv1d: exported graphs take the MatMul form, eager
    code the convolution. Same weights, same function (tested for parity).
    """
    if torch.onnx.is_in_onnx_export():
        weight = conv.weight.squeeze(-1)
        return nn.functional.linear(x.transpose(1, 2), weight, conv.bias).transpose(
            1, 2
        )
    return conv(x)


class PositionPool(nn.Module):
    """Reshape steps 1-2, parameter-free: (N, C_in, d1, ...) -> (N, C_in, L).

    The same as viewing the feature as (N, C_in, d1, P) and applying
    nn.AdaptiveMaxPool2d((L, 1)), written so that the ONNX exporter handles every (d1, L)
    and ONNX Runtime gets cheap graphs: a max over the trailing axes (skipped when P = 1),
    then, by the shape known when the model is built, nothing (d1 = L), a broadcast
    (d1 = 1), a max over equal windows (L divides d1), or else one gather with fixed
    indices and a max over each window (windows padded by repeating their last index).
    """

    def __init__(self, d1: int, L: int, rest: int = 1) -> None:
        super().__init__()
        self.d1, self.L, self.rest = d1, L, rest
        if d1 == L:
            self.mode = "identity"
        elif d1 == 1:
            self.mode = "repeat"
        elif d1 % L == 0:
            self.mode = "fold"
        else:
            self.mode = "gather"
        # Window i of adaptive pooling is [floor(i * d1 / L), ceil((i + 1) * d1 / L)).
        windows = [list(range(i * d1 // L, -(-(i + 1) * d1 // L))) for i in range(L)]
        self.width = max(len(window) for window in windows)
        padded = [
            window + window[-1:] * (self.width - len(window)) for window in windows
        ]
        self.register_buffer("index", torch.tensor(padded).flatten(), persistent=False)

    def collapse(self, feature: torch.Tensor) -> torch.Tensor:
        """(N, C_in, d1, ...) -> (N, C_in, d1): the max over the trailing axes."""
        x = feature.reshape(feature.shape[0], feature.shape[1], self.d1, -1)
        return x.amax(dim=3) if self.rest > 1 else x.squeeze(3)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        x = self.collapse(feature)
        n, channels = x.shape[0], x.shape[1]
        if self.mode == "identity":
            return x
        if self.mode == "repeat":
            return x.expand(n, channels, self.L)
        if self.mode == "fold":
            return x.reshape(n, channels, self.L, self.d1 // self.L).amax(dim=3)
        x = x.index_select(2, self.index).reshape(n, channels, self.L, self.width)
        return x.amax(dim=3)


class ConvBNReLU(nn.Module):
    """Position-wise fully connected block: Conv1d(k=1) -> BatchNorm1d -> ReLU -> Dropout."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(in_channels, out_channels, 1)
        self.bn = nn.BatchNorm1d(out_channels)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(torch.relu(self.bn(pointwise(self.conv, x))))


class Reshape(ConvBNReLU):
    """Backbone feature (N, *shape) -> (N, C, L): position pooling, then ConvBNReLU."""

    def __init__(self, shape: tuple[int, ...], C: int, L: int, dropout: float) -> None:
        super().__init__(shape[0], C, dropout)
        rest = 1
        for size in shape[2:]:
            rest *= size
        self.pool = PositionPool(shape[1] if len(shape) > 1 else 1, L, rest)

    def forward(self, feature: torch.Tensor) -> torch.Tensor:
        if (
            self.pool.mode == "repeat"
            and torch.onnx.is_in_onnx_export()
            and not self.training
        ):
            # One position repeated over L positions: in eval mode the block gives the same
            # result at every position, so an export computes it once and repeats that.
            once = super().forward(self.pool.collapse(feature))
            return once.expand(-1, -1, self.pool.L)
        return super().forward(self.pool(feature))


class Zero(nn.Module):
    """zeros_like(x); only the search uses it (compiled networks prune Zero steps)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.zeros_like(x)


class Sum(nn.Module):
    """x + y (compiled networks write it inline)."""

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class Attention(nn.Module):
    """Scaled dot-product attention over the L positions: query x, key and value y.

    softmax(q k^T / sqrt(C)) v with q = x and k = v = y as L tokens of size C, back to
    (N, C, L), then Dropout(0.1) and LayerNorm([C, L]). Written with matmuls because the
    dynamo exporter rejects F.scaled_dot_product_attention on 3-D tensors.
    """

    def __init__(self, C: int, L: int) -> None:
        super().__init__()
        self.scale = C**-0.5
        self.drop = nn.Dropout(0.1)
        self.norm = nn.LayerNorm([C, L])

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        scores = x.transpose(1, 2) @ y * self.scale  # (N, L queries, L keys)
        attended = y @ torch.softmax(scores, dim=-1).transpose(1, 2)  # (N, C, L)
        return self.norm(self.drop(attended))


class LinearGLU(nn.Module):
    """cat(x, y) -> Conv1d(2C, 2C, 1) -> BatchNorm1d(2C) -> GLU over channels -> Dropout."""

    def __init__(self, C: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2 * C, 2 * C, 1)
        self.bn = nn.BatchNorm1d(2 * C)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        joined = torch.cat([x, y], dim=1)
        gated = nn.functional.glu(self.bn(pointwise(self.conv, joined)), dim=1)
        return self.drop(gated)


class ConcatFC(ConvBNReLU):
    """cat(x, y) -> Conv1d(2C, C, 1) -> BatchNorm1d(C) -> ReLU -> Dropout."""

    def __init__(self, C: int, dropout: float) -> None:
        super().__init__(2 * C, C, dropout)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return super().forward(torch.cat([x, y], dim=1))


class Head(nn.Module):
    """Concatenated cell outputs (N, mC, L) -> LayerNorm -> ReLU -> flatten -> Linear."""

    def __init__(self, channels: int, L: int, classes: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm([channels, L])
        self.classifier = nn.Linear(channels * L, classes)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.relu(self.norm(z)).flatten(1))
