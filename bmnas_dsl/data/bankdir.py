"""Feature bank format version 2: a directory of `.npy` files that any tool can write
with numpy alone, read through memory maps (docs/data.md, "Bank directories").

    NAME.bank/
      meta.json                  format, version 2, task, classes, size, modalities with
                                 their features (name, shape, dtype), info
      labels.npy                 int64 (N,), or 0/1 (N, K) for multilabel
      split.npy                  int8 (N,): 0 train, 1 val, 2 test
      <modality>.<feature>.npy   float32 or float16 (N, *shape)

Opening a bank reads `meta.json` and the arrays' headers; the features stay on disk and
are paged in as batches touch them. `bank.load_bank` opens one, `BankWriter`
(bankwriter.py) writes one in chunks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bmnas_dsl.errors import BankError

FORMAT = "bmnas-feature-bank"
VERSION = 2
META = "meta.json"
LABELS = "labels.npy"
SPLIT = "split.npy"
FEATURE_DTYPES = ("float32", "float16")
SUFFIX = ".bank"  # the conventional name of a bank directory


def is_bank_dir(path: str | Path) -> bool:
    """Whether `path` is a directory holding a bank's meta.json."""
    path = Path(path)
    return path.is_dir() and (path / META).is_file()


def feature_file(name: str) -> str:
    """The file of feature `modality.feature`."""
    return f"{name}.npy"


def read_meta(path: Path) -> dict[str, Any]:
    """meta.json, checked for the fields every reader relies on."""
    where = path / META
    try:
        meta = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BankError(f"{path}: no {META}; not a feature bank directory") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BankError(f"{where}: not readable JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise BankError(f"{where}: does not declare format '{FORMAT}'")
    if meta.get("version") != VERSION:
        raise BankError(
            f"{where}: feature bank version {meta.get('version')!r}; a bank directory "
            f"is version {VERSION}"
        )
    size = meta.get("size")
    if type(size) is not int or size < 1:
        raise BankError(f"{where}: 'size' must be a positive integer, not {size!r}")
    return meta


def declared_features(
    meta: dict[str, Any], where: Path
) -> list[tuple[str, tuple[int, ...], str]]:
    """(modality.feature, shape, dtype) in the bank's order, from meta.json."""
    found = []
    try:
        for modality in meta["modalities"]:
            for feature in modality["features"]:
                shape = tuple(feature["shape"])
                if not shape or not all(type(d) is int and d >= 1 for d in shape):
                    raise ValueError(f"shape {feature['shape']!r}")
                dtype = feature.get("dtype", "float32")
                if dtype not in FEATURE_DTYPES:
                    raise ValueError(
                        f"dtype {dtype!r} (expected {' or '.join(FEATURE_DTYPES)})"
                    )
                found.append((f"{modality['name']}.{feature['name']}", shape, dtype))
    except (KeyError, TypeError, ValueError) as exc:
        raise BankError(f"{where}: unreadable 'modalities' entry ({exc})") from None
    return found


def open_array(path: Path, name: str) -> np.ndarray:
    """A memory map of one `.npy` file (no pickles); BankError naming the file."""
    where = path / name
    try:
        return np.load(where, mmap_mode="r", allow_pickle=False)
    except FileNotFoundError:
        raise BankError(f"{where}: missing (declared in {META})") from None
    except (OSError, ValueError, EOFError) as exc:
        raise BankError(f"{where}: not a .npy array ({exc})") from None


def open_arrays(
    path: Path,
) -> tuple[dict[str, Any], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """meta.json and memory maps of the features, labels and split, their shapes and
    dtypes checked against meta.json (no data is read)."""
    meta = read_meta(path)
    size = meta["size"]
    features = {}
    for name, shape, dtype in declared_features(meta, path / META):
        array = open_array(path, feature_file(name))
        if array.shape != (size, *shape) or array.dtype != np.dtype(dtype):
            raise BankError(
                f"{path / feature_file(name)}: {array.dtype} {list(array.shape)}, but "
                f"{META} declares {dtype} {[size, *shape]}"
            )
        features[name] = array
    undeclared = sorted(
        p.name
        for p in path.glob("*.npy")
        if p.name not in {LABELS, SPLIT} and p.name[: -len(".npy")] not in features
    )
    if undeclared:
        raise BankError(f"{path}: not declared in {META}: {', '.join(undeclared)}")
    labels, split = open_array(path, LABELS), open_array(path, SPLIT)
    for what, array in (("labels", labels), ("split", split)):
        if array.shape[:1] != (size,):
            raise BankError(
                f"{path / (what + '.npy')}: {array.shape[0] if array.ndim else 0} rows, "
                f"{META} declares size {size}"
            )
    # Labels and split are small and read on every epoch: in memory.
    return meta, features, np.array(labels), np.array(split)


def meta_of(
    *,
    task: str,
    classes: int,
    size: int,
    features: dict[str, tuple[tuple[int, ...], str]],
    info: dict[str, Any],
) -> dict[str, Any]:
    """meta.json's content for features {modality.feature: (shape, dtype)} in order."""
    modalities: dict[str, list[dict[str, Any]]] = {}
    for name, (shape, dtype) in features.items():
        modality, feature = name.split(".", 1)
        modalities.setdefault(modality, []).append(
            {"name": feature, "shape": list(shape), "dtype": dtype}
        )
    return {
        "format": FORMAT,
        "version": VERSION,
        "task": task,
        "classes": classes,
        "size": size,
        "modalities": [{"name": m, "features": fs} for m, fs in modalities.items()],
        "info": info,
    }


def written_record(path: Path, meta: dict[str, Any]) -> dict[str, int]:
    """Each data file's modification time (ns), as the writer leaves them: while they
    are unchanged, the writer's checks and content hash still hold."""
    names = [feature_file(n) for n, _, _ in declared_features(meta, path / META)]
    return {name: (path / name).stat().st_mtime_ns for name in [*names, LABELS, SPLIT]}
