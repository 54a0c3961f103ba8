"""`bmnas data convert IN OUT`: a bank in the other format (a version 1 `.npz` or a
version 2 directory), or the same format with another feature dtype, in chunks."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from bmnas_dsl.data.bank import FeatureBank, save_bank
from bmnas_dsl.data.bankwriter import BankWriter
from bmnas_dsl.errors import BankError

CHUNK_BYTES = 64 << 20  # rows copied at a time: bounded memory for any bank


def convert_bank(
    bank: FeatureBank,
    out: str | Path,
    dtype: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write `bank` to `out`: a version 1 `.npz` when `out` ends in `.npz` (float32, the
    only dtype of that format), else a version 2 directory with features in `dtype`
    (default: the bank's own, float32 for a version 1 bank)."""
    out = Path(out)
    if out.suffix == ".npz":
        if out.exists() and not overwrite:
            raise BankError(f"{out}: exists (pass --overwrite to replace it)")
        save_bank(bank, out)  # loads the features: version 1 is one file in memory
        return out
    dtype = dtype or _common_dtype(bank)
    shapes = {name: bank.shape(name) for name in bank.features}
    row_bytes = sum(int(np.prod(s)) for s in shapes.values()) * np.dtype(dtype).itemsize
    step = max(1, CHUNK_BYTES // max(1, row_bytes))
    with BankWriter(
        out,
        size=bank.size,
        features=shapes,
        task=bank.task,
        classes=bank.classes,
        dtype=dtype,
        info=bank.info,
        overwrite=overwrite,
    ) as writer:
        for start in range(0, bank.size, step):
            rows = slice(start, start + step)
            writer.append(
                {n: np.asarray(a[rows], dtype=dtype) for n, a in bank.features.items()},
                labels=bank.labels[rows],
                split=bank.split[rows],
            )
    return out


def _common_dtype(bank: FeatureBank) -> str:
    kinds = {str(a.dtype) for a in bank.features.values()}
    return "float16" if kinds == {"float16"} else "float32"
