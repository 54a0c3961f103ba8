"""Batches of a run's input features, from memory or from a memory-mapped bank.

A small bank is held as float32 tensors and batches are `index_select`s, as before
banks could be memory-mapped. A memory-mapped feature (a bank directory, docs/data.md)
stays on disk: a batch reads its rows in ascending order (sequential reads, each page
once) and puts them back in the batch's order, then converts them to float32, so a
float16 bank costs float16 bytes on disk and only a batch of float32 in memory, and the
next batch is read while the current one trains (`prefetched`). Both give the same
tensors for the same rows.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import torch

T = TypeVar("T")

# Up to this many bytes (as float32) of memory-mapped features, a run reads them into
# memory once: a gather from RAM beats one from the page cache (benchmarks/bank_scale.py
# measures both), and small banks are the common case.
IN_MEMORY_BYTES = 256 << 20
# A GPU run holds its in-memory features on the GPU when together they take at most
# this share of the GPU's free memory: a batch is then an index_select there, with no
# copy per step (benchmarks/gpu_check.py times both ways). 0 keeps them on the CPU.
RESIDENT_SHARE = 0.25
# Features read at a time when a streamed split is scored (validation, test): bounded
# memory whatever the bank's width (NTU's eight features: 265 rows).
EVAL_BYTES = 64 << 20


def is_mapped(array: object) -> bool:
    """Whether `array` is a memory map (or a view of one): its pages are the page
    cache's, not the process's."""
    while isinstance(array, np.ndarray):
        if isinstance(array, np.memmap):
            return True
        array = array.base
    return isinstance(array, mmap.mmap)


class Column:
    """One feature's rows as float32 tensors, in memory or read from a memory map
    (`stream`: leave a memory-mapped array on disk)."""

    def __init__(self, array: np.ndarray | torch.Tensor, stream: bool = False) -> None:
        self.mapped = isinstance(array, np.ndarray) and is_mapped(array)
        too_large = self.mapped and stream
        if isinstance(array, torch.Tensor):
            self.tensor: torch.Tensor | None = array.float()
        elif too_large:
            self.tensor, self.array = None, array
        elif self.mapped:  # small: read into memory once (a copy: maps are read-only)
            self.tensor = torch.from_numpy(np.array(array, dtype=np.float32))
        else:
            self.tensor = torch.from_numpy(np.asarray(array, dtype=np.float32))
        self.shape = tuple(array.shape)

    @property
    def streamed(self) -> bool:
        return self.tensor is None

    def rows(self, index: torch.Tensor) -> torch.Tensor:
        """The rows `index` (in that order) as a float32 tensor, on the device the
        column is held on (`hold_on_device`), the CPU otherwise."""
        if self.tensor is not None:
            return self.tensor.index_select(0, index.to(self.tensor.device))
        wanted = index.numpy()
        order = np.argsort(wanted, kind="stable")
        chunk = self.array[wanted[order]]  # ascending: sequential reads
        out = np.empty((len(wanted), *self.shape[1:]), dtype=np.float32)
        out[order] = chunk
        return torch.from_numpy(out)


def columns(arrays: list[np.ndarray | torch.Tensor]) -> list[Column]:
    """The run's features; the memory-mapped ones stay on disk when together they are
    larger than IN_MEMORY_BYTES as float32."""
    mapped = sum(
        a.size * 4 for a in arrays if isinstance(a, np.ndarray) and is_mapped(a)
    )
    stream = mapped > IN_MEMORY_BYTES
    return [Column(array, stream) for array in arrays]


def fits(needed: int, free: int, share: float) -> bool:
    """Whether `needed` bytes are at most `share` of `free` bytes."""
    return needed > 0 and needed <= share * free


def hold_on_device(
    columns: list[Column], device: torch.device, share: float | None = None
) -> int:
    """Move the in-memory columns to `device` once when it is a GPU and they fit in
    `share` (default RESIDENT_SHARE) of its free memory; the bytes moved (0: the
    batches are copied to the device one at a time, as the streamed columns always
    are). Gathering is an exact copy either way, so results do not depend on it."""
    if device.type != "cuda":
        return 0
    held = [column for column in columns if column.tensor is not None]
    needed = sum(column.tensor.numel() * 4 for column in held)  # type: ignore[union-attr]
    free, _ = torch.cuda.mem_get_info(device)
    if not fits(needed, free, RESIDENT_SHARE if share is None else share):
        return 0
    for column in held:
        column.tensor = column.tensor.to(device)  # type: ignore[union-attr]
    return needed


def part_rows(shapes: Iterable[tuple[int, ...]]) -> int:
    """How many rows of features of these per-row shapes make EVAL_BYTES as float32,
    at least one."""
    row = sum(4 * int(np.prod(shape)) for shape in shapes)
    return max(1, EVAL_BYTES // max(1, row))


def prefetched(
    gather: Callable[[torch.Tensor], T], indices: Sequence[torch.Tensor], ahead: bool
) -> Iterator[T]:
    """`gather(index)` for each index in turn; with `ahead`, the next one is gathered
    on a background thread while the caller works on the current one (numpy's copy
    from a memory map and torch's ops both run without the GIL, so the read of the
    next batch overlaps the step on this one). Gathering draws no random numbers, so
    the results are the same either way."""
    if not ahead or len(indices) < 2:
        for index in indices:
            yield gather(index)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bmnas-batch") as pool:
        pending = pool.submit(gather, indices[0])
        for position in range(len(indices)):
            batch = pending.result()
            if position + 1 < len(indices):
                pending = pool.submit(gather, indices[position + 1])
            yield batch
