"""Write a bank directory (version 2) of known size in chunks, with bounded memory.

The bank is built in a hidden directory beside its destination (`.NAME.partial`), whose
`progress.json` records the layout and how many leading rows are written. Only `close`
writes `meta.json` (after validating the data and hashing it) and renames the directory
into place, so a killed writer never leaves anything that looks like a finished bank;
`BankWriter(..., resume=True)` continues a partial one from its last recorded chunk.

    with BankWriter("digits.bank", size=n, features={"img.pool": (64, 8)},
                    task="multiclass", classes=10) as writer:
        for chunk in chunks:
            writer.append({"img.pool": x}, labels=y, split=s)
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from bmnas_dsl.data.arrays import host_array
from bmnas_dsl.data.bank import FeatureBank, validate
from bmnas_dsl.data.bankdir import (
    FEATURE_DTYPES,
    LABELS,
    META,
    SPLIT,
    feature_file,
    meta_of,
    written_record,
)
from bmnas_dsl.data.fingerprint import content_hash
from bmnas_dsl.errors import BankError
from bmnas_dsl.fileio import write_atomic

PROGRESS = "progress.json"


def partial_path(path: Path) -> Path:
    """Where the bank `path` is built until it is complete."""
    return path.parent / f".{path.name}.partial"


class BankWriter:
    """A bank directory being filled; see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        *,
        size: int,
        features: Mapping[str, tuple[int, ...]],
        task: str,
        classes: int,
        dtype: str = "float32",
        info: dict[str, Any] | None = None,
        overwrite: bool = False,
        resume: bool = False,
    ) -> None:
        self.path = Path(path)
        if dtype not in FEATURE_DTYPES:
            raise BankError(
                f"{self.path}: feature dtype {dtype!r}; use {' or '.join(FEATURE_DTYPES)}"
            )
        if type(size) is not int or size < 1:
            raise BankError(f"{self.path}: size must be a positive integer")
        if self.path.exists() and not overwrite:
            raise BankError(
                f"{self.path}: exists (--overwrite, or overwrite=True in Python, replaces it)"
            )
        if not self.path.parent.is_dir():
            raise BankError(f"{self.path}: {self.path.parent} is not a directory")
        self.size, self.task, self.classes = size, task, classes
        self.dtype, self.info = dtype, dict(info or {})
        self.shapes = {name: tuple(int(d) for d in s) for name, s in features.items()}
        self.label_shape = (size, classes) if task == "multilabel" else (size,)
        self.work = partial_path(self.path)
        self.layout = {
            "size": size,
            "features": {n: list(s) for n, s in self.shapes.items()},
            "dtype": dtype,
            "task": task,
            "classes": classes,
            "info": self.info,
        }
        self.rows = self._continue() if resume else self._start()
        self.arrays = self._open("r+")

    # -- the partial directory ---------------------------------------------------------
    def _start(self) -> int:
        _remove(self.work)  # an older partial bank: not this one's to continue
        self.work.mkdir()
        arrays = {feature_file(n): (self.size, *s) for n, s in self.shapes.items()}
        for name, shape in arrays.items():
            np.lib.format.open_memmap(
                self.work / name, mode="w+", dtype=self.dtype, shape=shape
            ).flush()
        np.lib.format.open_memmap(
            self.work / LABELS, mode="w+", dtype=np.int64, shape=self.label_shape
        ).flush()
        np.lib.format.open_memmap(
            self.work / SPLIT, mode="w+", dtype=np.int8, shape=(self.size,)
        ).flush()
        self._record(0)
        return 0

    def _continue(self) -> int:
        try:
            progress = json.loads((self.work / PROGRESS).read_text())
        except (OSError, ValueError):
            return self._start()  # nothing usable to continue: start afresh
        if progress.get("layout") != self.layout:
            raise BankError(
                f"{self.work}: a partial bank of another layout; remove it or write "
                "with resume=False"
            )
        return int(progress["rows"])

    def _open(self, mode: str) -> dict[str, np.memmap]:
        names = [feature_file(n) for n in self.shapes] + [LABELS, SPLIT]
        return {
            name: np.load(self.work / name, mmap_mode=mode, allow_pickle=False)
            for name in names
        }

    def _record(self, rows: int) -> None:
        progress = {"layout": self.layout, "rows": rows}
        write_atomic(self.work / PROGRESS, json.dumps(progress) + "\n")

    # -- filling -----------------------------------------------------------------------
    def append(
        self,
        features: Mapping[str, Any],
        labels: Any,
        split: Any,
    ) -> None:
        """Write the next rows: each feature (n, *shape), labels, split codes (n,)."""
        n = len(split)
        start = self.rows
        if start + n > self.size:
            raise BankError(
                f"{self.path}: {start + n} rows written, the bank holds {self.size}"
            )
        missing = set(self.shapes) - set(features)
        extra = set(features) - set(self.shapes)
        if missing or extra:
            raise BankError(
                f"{self.path}: a chunk must give exactly the declared features"
                + (f"; missing {', '.join(sorted(missing))}" if missing else "")
                + (f"; not declared {', '.join(sorted(extra))}" if extra else "")
            )
        for name, value in features.items():
            array = host_array(value, f"chunk of '{name}'")
            expected = (n, *self.shapes[name])
            if array.shape != expected:
                raise BankError(
                    f"{self.path}: chunk of '{name}' is {list(array.shape)}, "
                    f"expected {list(expected)}"
                )
            self.arrays[feature_file(name)][start : start + n] = array
        labels_array = host_array(labels, "chunk labels")
        split_array = host_array(split, "chunk split")
        if labels_array.shape != (n, *self.label_shape[1:]):
            raise BankError(
                f"{self.path}: chunk labels are {list(labels_array.shape)}, expected "
                f"{[n, *self.label_shape[1:]]}"
            )
        self.arrays[LABELS][start : start + n] = labels_array
        self.arrays[SPLIT][start : start + n] = split_array
        for array in self.arrays.values():
            array.flush()
        self.rows = start + n
        self._record(self.rows)

    # -- finishing ---------------------------------------------------------------------
    def close(self) -> Path:
        """Validate, hash, write meta.json and move the bank into place; its path."""
        if self.rows != self.size:
            raise BankError(
                f"{self.path}: {self.rows} of {self.size} rows written; the bank stays "
                f"partial in {self.work}"
            )
        names = list(self.shapes)
        self.arrays = self._open("r")
        bank = FeatureBank(
            features={n: self.arrays[feature_file(n)] for n in names},
            labels=np.array(self.arrays[LABELS]),
            split=np.array(self.arrays[SPLIT]),
            task=self.task,
            classes=self.classes,
            info=self.info,
        )
        validate(bank, str(self.path))
        meta = meta_of(
            task=self.task,
            classes=self.classes,
            size=self.size,
            features={n: (self.shapes[n], self.dtype) for n in names},
            info=self.info,
        )
        meta["content_sha256"] = content_hash(bank)
        del bank
        self.arrays = {}
        _fsync_files(self.work)
        meta["written"] = written_record(self.work, meta)
        write_atomic(self.work / META, json.dumps(meta, indent=2) + "\n")
        (self.work / PROGRESS).unlink()
        _fsync_dir(self.work)
        _move_into_place(self.work, self.path)
        return self.path

    def __enter__(self) -> BankWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        # On an exception the partial bank stays, resumable, and never looks finished.


def _fsync_files(path: Path) -> None:
    for name in os.listdir(path):
        with open(path / name, "rb") as handle:
            os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _move_into_place(work: Path, path: Path) -> None:
    """Rename the finished directory to `path`; an older bank there is replaced only
    once the new one is complete."""
    if not path.exists():
        os.replace(work, path)
        return
    old = path.parent / f".{path.name}.old"
    _remove(old)
    os.replace(path, old)  # a file (a version 1 bank) or a directory
    os.replace(work, path)
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
