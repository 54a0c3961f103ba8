"""`benchmarks/paper_tables.py --jobs N`: a phase's independent units (searches, or
trainings) computed N at a time in worker processes, ahead of the driver's own serial
pass, which then finds every unit stored and only assembles the tables.

Each unit seeds itself (a search from its seed, a training from its settings) and runs
with the thread count it records, so a unit computed in a worker is the unit a serial
run computes (tested: the same tables). Workers are started with `spawn` (torch's
thread pools do not survive a fork), each loads the bank once.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import torch

DRIVER = Path(__file__).resolve().parent / "paper_tables.py"


class Job(NamedTuple):
    """A unit to compute when the store lacks a valid one: its key, the test of a
    stored unit, and the work, ("search", seed, selection) or ("train", text,
    settings, row)."""

    key: str
    valid: Callable[[dict[str, Any]], bool]
    work: tuple


_worker: dict[str, Any] = {}  # the driver module and the bank, per worker process


def _start(config: dict[str, Any]) -> None:
    driver = _load_driver()
    torch.set_num_threads(config["threads"])
    _worker["driver"] = driver
    _worker["config"] = driver.Config(**config)
    _worker["bank"] = driver.resolve_data(config["data"])


def _load_driver() -> ModuleType:
    """The driver as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("paper_tables_worker", DRIVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up here
    spec.loader.exec_module(module)
    return module


def _compute(work: tuple) -> dict[str, Any]:
    driver, config, bank = _worker["driver"], _worker["config"], _worker["bank"]
    kind, *arguments = work
    if kind == "search":
        seed, selection = arguments
        return driver.search_unit(bank, config, seed, selection)
    text, settings, row = arguments
    return driver.train_unit(text, bank, config, settings, row)


class UnitPool:
    """`config.jobs` worker processes, started once for the whole run (each loads
    torch and the bank: seconds), filling the store ahead of each serial phase."""

    def __init__(self, config: Any) -> None:
        self.jobs = config.jobs
        self.pool = ProcessPoolExecutor(
            max_workers=config.jobs,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(asdict(config),),
        )

    def fill(self, store: Any, jobs: Sequence[Job]) -> None:
        """Compute the jobs whose unit `store` lacks, and store each as it finishes
        (a killed run keeps what was done)."""
        todo = []
        for job in jobs:
            unit, existed = store.lookup(job.key, job.valid)
            if unit is None:
                todo.append((job, existed))
        futures = {
            self.pool.submit(_compute, job.work): (job, existed)
            for job, existed in todo
        }
        for future in as_completed(futures):
            job, existed = futures[future]
            store.put(job.key, future.result(), existed)
            print(f"  {job.key}: computed (parallel)", file=sys.stderr, flush=True)

    def __enter__(self) -> UnitPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.pool.shutdown(cancel_futures=True)


class NoPool:
    """--jobs 1: the serial pass computes every unit itself."""

    def fill(self, store: Any, jobs: Sequence[Job]) -> None:
        pass

    def __enter__(self) -> NoPool:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def unit_pool(config: Any) -> UnitPool | NoPool:
    return UnitPool(config) if config.jobs > 1 else NoPool()
