"""The inputs of an extraction, in row order, from any row on (a resumed extraction
starts where the partial bank ends).

`samples` is one of
- an array or tensor (N, ...): the input of every backbone;
- a dict of them, {input name: (N, ...)}: one input per backbone (by default the one
  named like the backbone's modality);
- a map-style dataset (`len()` and `[i]`, e.g. a `torch.utils.data.Dataset`) whose items
  are one input or such a dict; it is read with a DataLoader in order, never shuffled.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from bmnas_dsl.extract.errors import ExtractError

# (first row, end row, inputs): inputs is a tensor or a dict of tensors.
Batch = tuple[int, int, Any]


def sample_count(samples: Any) -> int:
    """How many rows `samples` gives; ExtractError for what has no length."""
    if isinstance(samples, Mapping):
        if not samples:
            raise ExtractError("samples is an empty dict; give {input name: (N, ...)}")
        lengths = {
            name: _length(value, f"samples['{name}']")
            for name, value in samples.items()
        }
        if len(set(lengths.values())) > 1:
            listed = ", ".join(f"{k} {v}" for k, v in lengths.items())
            raise ExtractError(f"samples have different lengths: {listed}")
        return next(iter(lengths.values()))
    return _length(samples, "samples")


def batches(
    samples: Any, start: int, batch_size: int, workers: int = 0
) -> Iterator[Batch]:
    """Batches of `batch_size` rows from row `start` to the end."""
    total = sample_count(samples)
    if _is_array(samples) or (
        isinstance(samples, Mapping) and all(_is_array(v) for v in samples.values())
    ):
        for first in range(start, total, batch_size):
            end = min(first + batch_size, total)
            if isinstance(samples, Mapping):
                yield first, end, {k: _rows(v, first, end) for k, v in samples.items()}
            else:
                yield first, end, _rows(samples, first, end)
        return
    loader = DataLoader(
        Subset(samples, range(start, total)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
    )
    first = start
    for inputs in loader:
        end = min(first + batch_size, total)
        yield first, end, inputs
        first = end


def inputs_for(inputs: Any, name: str, modality: str) -> Any:
    """The input of the backbone of `modality` that reads input `name`."""
    if not isinstance(inputs, Mapping):
        return inputs
    if name not in inputs:
        raise ExtractError(
            f"backbone '{modality}' reads input '{name}', but the samples give "
            f"{', '.join(map(str, inputs))} (set Backbone(input=...))"
        )
    return inputs[name]


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray | torch.Tensor)


def _rows(array: Any, first: int, end: int) -> torch.Tensor:
    if isinstance(array, torch.Tensor):
        return array[first:end]
    return torch.from_numpy(np.array(array[first:end]))  # a copy: memmaps are read-only


def _length(value: Any, where: str) -> int:
    try:
        return len(value)
    except TypeError:
        raise ExtractError(
            f"{where} ({type(value).__name__}) has no length; give an array, a dict of "
            "arrays or a map-style dataset (len() and [i])"
        ) from None
