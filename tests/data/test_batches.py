"""Batches from memory and from memory maps (nn/batches.py): the same rows in the same
order either way, the next batch gathered ahead without changing anything."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from bmnas_dsl.nn.batches import Column, columns, is_mapped, part_rows, prefetched


@pytest.fixture
def mapped(tmp_path):
    array = np.random.default_rng(0).standard_normal((50, 3, 4)).astype(np.float16)
    np.save(tmp_path / "f.npy", array)
    return np.load(tmp_path / "f.npy", mmap_mode="r")


def test_a_streamed_column_gives_the_rows_in_the_batchs_order(mapped):
    streamed, memory = Column(mapped, stream=True), Column(np.array(mapped))
    assert streamed.streamed and not memory.streamed
    index = torch.tensor([7, 2, 49, 2, 0])  # unsorted, with a repeat
    rows = streamed.rows(index)
    assert rows.dtype == torch.float32
    assert torch.equal(rows, memory.rows(index))
    assert torch.equal(rows[2], torch.from_numpy(mapped[49].astype(np.float32)))


def test_small_mapped_features_are_read_into_memory(mapped):
    assert is_mapped(mapped) and is_mapped(mapped[3:9])
    assert not is_mapped(np.array(mapped))
    [column] = columns([mapped])  # 50 x 12 floats: far below IN_MEMORY_BYTES
    assert not column.streamed


def test_parts_are_sized_by_bytes(mapped):
    assert part_rows([mapped.shape[1:]]) == (64 << 20) // (12 * 4)
    assert part_rows([(1 << 30,)]) == 1  # a row over the budget: one at a time


@pytest.mark.parametrize("ahead", [False, True])
def test_prefetched_gives_every_batch_in_order(ahead):
    seen = []

    def gather(index):
        seen.append(threading.current_thread().name)
        return int(index.sum())

    indices = [torch.arange(i, i + 3) for i in range(6)]
    assert list(prefetched(gather, indices, ahead)) == [3 * i + 3 for i in range(6)]
    on_other_thread = any(name.startswith("bmnas-batch") for name in seen)
    assert on_other_thread == ahead


def test_an_error_while_gathering_ahead_reaches_the_caller():
    def gather(index):
        if int(index[0]) == 2:
            raise OSError("disk gone")
        return int(index[0])

    batches = prefetched(gather, [torch.tensor([i]) for i in range(4)], True)
    assert next(batches) == 0 and next(batches) == 1
    with pytest.raises(OSError, match="disk gone"):
        next(batches)
