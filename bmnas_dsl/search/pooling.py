"""The search's pooled features: reshape step 2 (position pooling, parameter-free)
applied once to the whole bank, so that every step reads (N, C_in, L).

A bank in memory is pooled in memory, as it always was. A memory-mapped bank (a bank
directory) is pooled in chunks of rows; a result larger than IN_MEMORY_BYTES is a cache
on disk beside the bank, keyed by the bank's content hash, the feature and L, written
in a hidden directory renamed into place when complete (a killed search never leaves a
half-written cache that a later one would trust). A feature stored at (N, C_in, L)
already, as `bmnas extract --pool L` writes it, needs no pooling: it stays mapped.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from bmnas_dsl.data.bank import FeatureBank
from bmnas_dsl.data.fingerprint import content_hash, short
from bmnas_dsl.nn.batches import IN_MEMORY_BYTES, is_mapped
from bmnas_dsl.nn.layers import PositionPool

CHUNK_BYTES = 64 << 20  # raw feature bytes pooled at a time


def pool_for(shape: tuple[int, ...], L: int) -> PositionPool:
    """The reshape layer's pooling of a feature of per-sample `shape` (C_in, d1, ...)."""
    rest = math.prod(shape[2:]) if len(shape) > 2 else 1
    return PositionPool(shape[1] if len(shape) > 1 else 1, L, rest)


def pooled_feature(bank: FeatureBank, name: str, L: int) -> np.ndarray | torch.Tensor:
    """Feature `name` pooled to (N, C_in, L): a float32 tensor in memory, or a memory
    map (the bank's own array, or the on-disk cache)."""
    array = bank.features[name]
    shape = bank.shape(name)
    pool = pool_for(shape, L)
    if not is_mapped(array):
        with torch.no_grad():
            return pool(torch.from_numpy(np.asarray(array)).float())
    if pool.mode == "identity" and pool.rest == 1 and len(shape) == 2:
        return array  # already (N, C_in, L)
    pooled_bytes = bank.size * shape[0] * L * 4
    if pooled_bytes <= IN_MEMORY_BYTES or bank.source is None:
        out = np.empty((bank.size, shape[0], L), dtype=np.float32)
        _pool_into(out, array, pool)
        return torch.from_numpy(out)
    return _cached(bank, name, L, pool)


def _pool_into(out: np.ndarray, array: np.ndarray, pool: PositionPool) -> None:
    row_bytes = max(1, math.prod(array.shape[1:]) * array.dtype.itemsize)
    step = max(1, CHUNK_BYTES // row_bytes)
    with torch.no_grad():
        for start in range(0, array.shape[0], step):
            # A copy: torch refuses to wrap a read-only memory map without a warning.
            chunk = np.array(array[start : start + step], dtype=np.float32)
            rows = torch.from_numpy(chunk)
            out[start : start + step] = pool(rows).numpy()


def cache_dir(bank: FeatureBank) -> Path:
    """Where a bank's pooled features are cached: beside the bank directory."""
    assert bank.source is not None
    source = Path(bank.source)
    return source.parent / f"{source.name}.pooled-{short(content_hash(bank))}"


def _cached(bank: FeatureBank, name: str, L: int, pool: PositionPool) -> np.ndarray:
    folder = cache_dir(bank)
    target = folder / f"{name}.L{L}.npy"
    if target.is_file():
        cached = np.load(target, mmap_mode="r", allow_pickle=False)
        if cached.shape == (bank.size, bank.shape(name)[0], L):
            return cached
    folder.mkdir(exist_ok=True)
    partial = folder / f".{target.name}.{os.getpid()}.partial"
    try:
        out = np.lib.format.open_memmap(
            partial,
            mode="w+",
            dtype=np.float32,
            shape=(bank.size, bank.shape(name)[0], L),
        )
        _pool_into(out, bank.features[name], pool)
        out.flush()
        del out
        os.replace(partial, target)
    finally:
        if partial.exists():
            partial.unlink()
    return np.load(target, mmap_mode="r", allow_pickle=False)


def remove_cache(bank: FeatureBank) -> None:
    """Delete a bank's pooled cache (it is rebuilt on the next search)."""
    if bank.source is not None:
        shutil.rmtree(cache_dir(bank), ignore_errors=True)
