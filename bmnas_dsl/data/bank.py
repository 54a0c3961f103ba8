"""The feature bank: the on-disk format that search and training read (docs/data.md).

A bank is a directory of `.npy` files, read through memory maps (format version 2:
`bankdir.py`), or one uncompressed `.npz` file read whole (version 1), with
`allow_pickle=False`; version 1 holds:
- `meta`: a 0-d string array holding JSON: format name and version, task, classes, the
  modalities with their features in order, and free provenance;
- `<modality>.<feature>`: float32 arrays (N, *shape), one per feature;
- `labels`: int64 (N,) class indices, or (N, K) 0/1 for multilabel;
- `split`: int8 (N,), 0 = train, 1 = val, 2 = test.

A `FeatureBank` converts what it is given to these types when it is made (lists, torch
tensors, float64, int32 labels...: `data/arrays.py`, docs/data.md "Array types"), so
that what a search hashes and trains on is what `save_bank` writes.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from bmnas_dsl.data.arrays import SPLITS, classes_of, features_of, labels_of, split_of
from bmnas_dsl.data.bankdir import open_arrays, written_record
from bmnas_dsl.errors import BankError
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.lang.ast import TASKS
from bmnas_dsl.lang.names import declarable_problem

FORMAT = "bmnas-feature-bank"
VERSION = 1
SOURCE = "feature bank"  # how a message names a bank that has no file yet
CHECK_BYTES = 64 << 20  # feature bytes checked for NaN/Inf at a time


@dataclass
class FeatureBank:
    features: dict[str, np.ndarray]  # "modality.feature" -> (N, *shape), modality order
    labels: np.ndarray
    split: np.ndarray
    task: str
    classes: int
    info: dict[str, Any] = field(default_factory=dict)  # provenance, free-form
    # A bank directory's path (its pooled cache lives beside it), and the content hash
    # its writer recorded (data/fingerprint.py trusts it; docs/data.md).
    source: Path | None = None
    content_sha256: str | None = None

    def __post_init__(self) -> None:
        # One BankError naming every field that cannot be converted, at construction:
        # the user's own line, not a numpy error deep inside save_bank.
        found: list[str] = []
        self.features = features_of(self.features, found)
        self.labels = labels_of(self.labels, found)
        self.split = split_of(self.split, found)
        self.classes = classes_of(self.classes)
        if found:
            raise BankError(f"{SOURCE}: " + "; ".join(found))

    @property
    def size(self) -> int:
        return int(self.labels.shape[0])

    @property
    def modalities(self) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for name in self.features:
            modality, feature = name.split(".", 1)
            grouped.setdefault(modality, []).append(feature)
        return grouped

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.features[name].shape[1:])

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == SPLITS.index(split))

    def split_sizes(self) -> dict[str, int]:
        return {
            name: int(np.sum(self.split == code)) for code, name in enumerate(SPLITS)
        }

    def select(self, modalities: list[str]) -> FeatureBank:
        """The same bank with only these modalities, in the order given."""
        unknown = [m for m in modalities if m not in self.modalities]
        if unknown:
            raise BankError(
                f"no modality {', '.join(unknown)} in this bank "
                f"(it has {', '.join(self.modalities)})"
            )
        chosen = {
            f"{m}.{f}": self.features[f"{m}.{f}"]
            for m in modalities
            for f in self.modalities[m]
        }
        # Other features, other content: the recorded hash no longer applies.
        return replace(self, features=chosen, content_sha256=None)


def problems(bank: FeatureBank, scan: bool = True) -> list[str]:
    """Everything wrong with a bank, as messages naming the array concerned. Without
    `scan`, the features' values are not read (a bank its writer already checked)."""
    found = []
    if bank.task not in TASKS:
        found.append(f"task '{bank.task}' is not one of {', '.join(TASKS)}")
    if not (isinstance(bank.classes, int) and bank.classes >= 1):
        found.append(f"classes must be a positive integer, not {bank.classes!r}")
    n = bank.labels.shape[0] if bank.labels.ndim else 0
    if not bank.features:
        found.append("the bank has no features")
    for name, array in bank.features.items():
        if name.count(".") != 1 or not all(name.split(".")):
            found.append(f"feature name '{name}' is not of the form modality.feature")
        else:
            found += _name_problems(name)
        if array.ndim < 2:
            found.append(
                f"feature '{name}' has shape {array.shape}; expected (N, C, ...)"
            )
            continue
        if array.shape[0] != n:
            found.append(
                f"feature '{name}' has {array.shape[0]} samples, labels have {n}"
            )
        if not np.issubdtype(array.dtype, np.floating):
            found.append(f"feature '{name}' has dtype {array.dtype}; expected floats")
        elif scan:
            bad = nonfinite_count(array)
            if bad:
                found.append(f"feature '{name}' contains {bad} NaN or Inf value(s)")
    found += _label_problems(bank, n)
    if bank.split.shape != (n,):
        found.append(f"split has shape {bank.split.shape}; expected ({n},)")
    else:
        if np.any((bank.split < 0) | (bank.split > 2)):
            found.append("split values must be 0 (train), 1 (val) or 2 (test)")
        for name, size in bank.split_sizes().items():
            if size == 0:
                found.append(f"the {name} split is empty")
    return found


def nonfinite_count(array: np.ndarray) -> int:
    """How many values are NaN or Inf, read in chunks of rows (bounded memory for a
    memory-mapped feature of any size)."""
    row = max(1, int(np.prod(array.shape[1:])) * array.dtype.itemsize)
    step = max(1, CHECK_BYTES // row)
    return sum(
        int(
            array[i : i + step].size
            - np.count_nonzero(np.isfinite(array[i : i + step]))
        )
        for i in range(0, array.shape[0], step)
    )


def _name_problems(qualified: str) -> list[str]:
    """A bank's names must be ones a genotype can declare: the search writes them into
    its .bmg file, and `bmnas train` reads them back from one."""
    found = []
    for what, name in zip(("modality", "feature"), qualified.split("."), strict=True):
        problem = declarable_problem(name)
        if problem:
            found.append(
                f"{what} name '{name}' (of '{qualified}') {problem}; bank names follow "
                "the .bmg naming rule (docs/language.md)"
            )
    return found


def _label_problems(bank: FeatureBank, n: int) -> list[str]:
    labels = bank.labels
    if not np.issubdtype(labels.dtype, np.integer):
        return [f"labels have dtype {labels.dtype}; expected integers"]
    if bank.task == "multiclass":
        if labels.ndim != 1:
            return [f"multiclass labels must be (N,), not {labels.shape}"]
        if labels.size and (labels.min() < 0 or labels.max() >= bank.classes):
            return [
                f"labels out of range: {int(labels.min())}..{int(labels.max())} for "
                f"{bank.classes} classes (expected 0..{bank.classes - 1})"
            ]
    elif bank.task == "multilabel":
        if labels.ndim != 2 or labels.shape[1] != bank.classes:
            return [
                f"multilabel labels must be (N, {bank.classes}), not {labels.shape}"
            ]
        if labels.size and not np.all((labels == 0) | (labels == 1)):
            return ["multilabel labels must be 0 or 1"]
    return []


def validate(
    bank: FeatureBank, source: str = "feature bank", scan: bool = True
) -> FeatureBank:
    found = problems(bank, scan)
    if found:
        raise BankError(f"{source}: " + "; ".join(found))
    return bank


def save_bank(bank: FeatureBank, path: str | Path) -> None:
    """Validate and write atomically (a failed write leaves any older bank in place)."""
    validate(bank)
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "task": bank.task,
        "classes": bank.classes,
        "modalities": [
            {
                "name": m,
                "features": [
                    {"name": f, "shape": list(bank.shape(f"{m}.{f}"))} for f in fs
                ],
            }
            for m, fs in bank.modalities.items()
        ],
        "info": bank.info,
    }
    try:
        text = json.dumps(meta, sort_keys=True)
    except (TypeError, ValueError) as exc:  # np.int64 or a set in the provenance
        raise BankError(
            f"{SOURCE}: info must hold JSON values (str, int, float, bool, None, "
            f"lists, dicts): {exc}"
        ) from None
    arrays = {
        name: np.ascontiguousarray(a, dtype=np.float32)
        for name, a in bank.features.items()
    }
    buffer = io.BytesIO()
    np.savez(
        buffer,
        meta=np.array(text),
        labels=bank.labels.astype(np.int64),
        split=bank.split.astype(np.int8),
        **arrays,
    )
    write_atomic(path, buffer.getvalue())


def load_bank(path: str | Path) -> FeatureBank:
    """Read and validate a bank; BankError says what is wrong and where."""
    path = Path(path)
    if path.is_dir():  # format version 2, memory-mapped
        return load_bank_dir(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise BankError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise BankError(
            f"{path}: not a feature bank (.npz without pickles): {exc}"
        ) from None
    try:
        meta = json.loads(str(arrays.pop("meta")))
    except KeyError:
        raise BankError(f"{path}: no 'meta' entry; not a bmnas feature bank") from None
    except json.JSONDecodeError as exc:
        raise BankError(f"{path}: 'meta' is not JSON ({exc})") from None
    if meta.get("format") != FORMAT:
        raise BankError(f"{path}: 'meta' does not declare format '{FORMAT}'")
    if meta.get("version") != VERSION:
        raise BankError(
            f"{path}: feature bank version {meta.get('version')}; this bmnas reads {VERSION}"
        )
    missing = [k for k in ("labels", "split") if k not in arrays]
    if missing:
        raise BankError(f"{path}: missing array(s) {', '.join(missing)}")
    labels, split = arrays.pop("labels"), arrays.pop("split")
    order = [
        f"{m['name']}.{f['name']}"
        for m in meta.get("modalities", [])
        for f in m["features"]
    ]
    undeclared = sorted(set(arrays) - set(order))
    absent = [name for name in order if name not in arrays]
    if undeclared or absent:
        raise BankError(
            f"{path}: arrays and meta disagree"
            + (f"; not declared: {', '.join(undeclared)}" if undeclared else "")
            + (f"; declared but missing: {', '.join(absent)}" if absent else "")
        )
    try:
        bank = FeatureBank(
            features={name: arrays[name] for name in order},
            labels=labels,
            split=split,
            task=meta.get("task", "multiclass"),
            classes=meta.get("classes", 0),
            info=meta.get("info", {}),
        )
    except BankError as exc:  # arrays of types the format does not allow (strings)
        raise BankError(f"{path}: {str(exc).removeprefix(SOURCE + ': ')}") from None
    return validate(bank, str(path))


def load_bank_dir(path: str | Path) -> FeatureBank:
    """Open a bank directory: meta.json and the arrays' headers are read, the features
    stay memory-mapped. Its values are scanned for NaN and Inf (in chunks) unless its
    writer checked them and no data file changed since (`written` in meta.json)."""
    path = Path(path)
    meta, features, labels, split = open_arrays(path)
    checked = meta.get("written") == written_record(path, meta)
    try:
        bank = FeatureBank(
            features=features,
            labels=labels,
            split=split,
            task=meta.get("task", "multiclass"),
            classes=meta.get("classes", 0),
            info=meta.get("info", {}),
            source=path,
            content_sha256=meta.get("content_sha256") if checked else None,
        )
    except BankError as exc:  # arrays of types the format does not allow
        raise BankError(f"{path}: {str(exc).removeprefix('feature bank: ')}") from None
    return validate(bank, str(path), scan=not checked)


def genotype_problems(
    bank: FeatureBank, inputs: list[tuple[str, list[int]]]
) -> list[str]:
    """Features a genotype declares (name, shape) that the bank lacks or shapes otherwise."""
    found = []
    for name, shape in inputs:
        if name not in bank.features:
            found.append(f"feature '{name}' of the genotype is not in the bank")
        elif tuple(shape) != bank.shape(name):
            found.append(
                f"feature '{name}' is {list(bank.shape(name))} in the bank but "
                f"{list(shape)} in the genotype"
            )
    return found
