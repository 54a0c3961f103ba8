"""torch's intra-op thread count for one block of work, restored afterwards (the same
process may run several searches or trainings with other settings).

The default is one thread, not torch's one per core: bmnas's networks are small
(C = 32, a few hundred rows per batch), so a second thread buys little on an idle
machine, and any core taken by another process makes torch's threads wait on each
other at every op (a 5-epoch search took 8.5x longer on a 2-core machine with one core
busy). benchmarks/threads.py measures both; docs/decisions.md, "Threads".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from bmnas_dsl.runs.checks import DEFAULT_THREADS


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with `count` threads (None: DEFAULT_THREADS)."""
    before = torch.get_num_threads()
    torch.set_num_threads(count or DEFAULT_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)
