"""Position pooling at capture time: what a bank stores for a captured layer.

The generated model's reshape layer pools a feature (N, C_in, d1, ...) to (N, C_in, L)
with `nn.layers.PositionPool` (shared/spec/semantics.md, "Reshape layer", step 2). That
step has no parameters, so an extraction may apply it once, when the features are
captured: a 2048x8x8x8 map is stored as 2048xL. Capture uses the very same class, so a
bank stored at L and a model built with the same L compute the same thing: the model's
own pooling of a (C_in, L) feature is then the identity (tested on the raw maps).

Vectors (N, C_in) are stored as they are: the reshape layer repeats them over the L
positions whatever their stored form, so storing L copies would only cost space.
"""

from __future__ import annotations

import math

import torch

from bmnas_dsl.extract.errors import ExtractError
from bmnas_dsl.nn.layers import PositionPool


def stored_shape(shape: tuple[int, ...], pool: int | None) -> tuple[int, ...]:
    """The per-sample shape a bank stores for a captured per-sample `shape`."""
    if pool is None or len(shape) < 2:
        return shape
    return (shape[0], pool)


class CapturePool:
    """Pools captured batches to L positions; one PositionPool per raw shape and device
    (its gather indices are a buffer that lives on the device of the features)."""

    def __init__(self, pool: int | None) -> None:
        if pool is not None and (type(pool) is not int or pool < 1):
            raise ExtractError(f"pool must be a positive integer (L), not {pool!r}")
        self.pool = pool
        self._layers: dict[tuple[tuple[int, ...], str], PositionPool] = {}

    def __call__(self, feature: torch.Tensor) -> torch.Tensor:
        """(N, C_in, d1, ...) -> (N, C_in, L); vectors and pool=None: unchanged."""
        shape = tuple(feature.shape[1:])
        if self.pool is None or len(shape) < 2:
            return feature
        key = (shape, str(feature.device))
        layer = self._layers.get(key)
        if layer is None:
            layer = PositionPool(shape[1], self.pool, math.prod(shape[2:]))
            layer = self._layers[key] = layer.to(feature.device)
        return layer(feature)
