"""What users give a `FeatureBank` (docs/data.md, "Array types"), as the bank's types:
float32 (or float16) features, int64 labels, int8 split.

Lists, tuples, anything with `__array__`, and torch tensors (on any device: a GPU
tensor is copied to the host) are read as numpy arrays; float64 features become
float32 (float16 ones stay float16: half the memory, and a memory-mapped feature must
not be read into memory just to be widened; `save_bank` widens them exactly);
integer, bool and integral float labels become int64, split codes or names int8. What cannot be converted is a problem naming the field as the user wrote it
(`features['v.a']`, `labels`, `split`). Torch is never imported: a tensor is recognised
by its type's module, so that saving a bank from numpy needs no torch.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import numpy as np

from bmnas_dsl.errors import BankError

SPLITS = ("train", "val", "test")  # split codes 0, 1, 2
FLOAT_ADVICE = "expected floats (float32 or float16; float64 is converted to float32)"

# Each function appends its problems to `found` and returns the converted value, or
# the value as given when it cannot be converted.


def features_of(value: Any, found: list[str]) -> dict[str, np.ndarray]:
    if not isinstance(value, Mapping):
        found.append(
            "features must be a dict of 'modality.feature' -> (N, C, ...) array, "
            f"not a {type(value).__name__}"
        )
        return {}
    converted = {}
    for name, item in value.items():
        if not isinstance(name, str):
            found.append(f"feature name {name!r} is not a string 'modality.feature'")
            continue
        where = f"features[{name!r}]"
        array = _as_array(item, where, found)
        if array is None:
            continue
        if array.dtype.kind != "f":
            found.append(f"{where} has {_dtype(array)}; {FLOAT_ADVICE}")
        elif array.dtype not in (np.float32, np.float16):
            array = _to_float32(array, where, found)
        converted[name] = array
    return converted


def _to_float32(array: np.ndarray, where: str, found: list[str]) -> np.ndarray:
    """float64 (or longer) rounds to float32; a value beyond float32's range would
    become Inf in the saved bank: refused here, with the largest value."""
    with np.errstate(over="ignore"):
        single = array.astype(np.float32)
    if np.isinf(single).any():
        overflow = np.isinf(single) & np.isfinite(array)
        if overflow.any():
            largest = float(np.max(np.abs(array[overflow])))
            found.append(
                f"{where} has {int(overflow.sum())} value(s) beyond the float32 range "
                f"(largest |value| {largest:.3g}); features are stored as float32"
            )
    return single


def labels_of(value: Any, found: list[str]) -> np.ndarray:
    array = _as_array(value, "labels", found)
    if array is None:
        return value
    if array.dtype.kind in "biu":
        if (
            array.dtype.kind == "u"
            and array.size
            and array.max() > np.iinfo(np.int64).max
        ):
            found.append("labels have values beyond the int64 range")
            return array
        return array.astype(np.int64, copy=False)
    if array.dtype.kind == "f":
        integral = _integral(array, "labels have", found)
        return integral if integral is not None else array
    found.append(
        f"labels have {_dtype(array)}; expected integers (int64; other integer types, "
        "bool and floats with integral values are converted)"
    )
    return array


def split_of(value: Any, found: list[str]) -> np.ndarray:
    array = _as_array(value, "split", found)
    if array is None:
        return value
    if array.dtype.kind in "US":  # names: "train", "val", "test"
        names = array.astype(str)
        unknown = sorted(set(names.ravel().tolist()) - set(SPLITS))
        if unknown:
            found.append(
                f"split has value {unknown[0]!r}; expected 0 (train), 1 (val), 2 (test) "
                "or the names 'train', 'val', 'test'"
            )
            return array
        array = np.select([names == name for name in SPLITS], range(len(SPLITS)))
    elif array.dtype.kind == "f":
        array = _integral(array, "split has", found)
        if array is None:
            return value
    elif array.dtype.kind not in "iu":
        found.append(
            f"split has {_dtype(array)}; expected integers 0 (train), 1 (val), 2 (test)"
        )
        return array
    # Values other than 0..2 stay as given (int64), for problems() to report: a cast to
    # int8 would wrap 256 to 0.
    if array.size and (array.min() < 0 or array.max() > 2):
        return array.astype(np.int64)
    return array.astype(np.int8, copy=False)


def _integral(array: np.ndarray, what: str, found: list[str]) -> np.ndarray | None:
    """Floats that are whole numbers (labels from `tensor.float()`) as int64; `what` is
    the field and its verb ("labels have")."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(array) | (array != np.round(array)) | (np.abs(array) > 2**53)
    if bad.any():
        found.append(
            f"{what} non-integral value {float(array[bad].flat[0])!r} (dtype "
            f"{array.dtype}); expected integers"
        )
        return None
    return array.astype(np.int64)


def classes_of(value: Any) -> Any:
    """`classes` from numpy or torch (np.int64(3), tensor(3)) as an int; anything else
    is left for problems() to refuse."""
    if isinstance(value, bool):
        return value
    try:
        return operator.index(value)
    except TypeError:
        return value


def host_array(value: Any, where: str) -> np.ndarray:
    """`value` (numpy, an array-like or a torch tensor on any device) as a numpy array;
    BankError naming `where` when it cannot be read as one."""
    found: list[str] = []
    array = _as_array(value, where, found)
    if array is None:
        raise BankError("; ".join(found))
    return array


def _as_array(value: Any, where: str, found: list[str]) -> np.ndarray | None:
    """A numpy array from numpy, an array-like (list, tuple, anything with
    `__array__`) or a torch tensor (on any device: a GPU tensor is copied to the host);
    None, with the problem, when it cannot be read as a rectangular array."""
    if isinstance(value, np.ndarray):
        return value
    if type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach"):
        try:
            tensor = value.detach().cpu()
            if str(tensor.dtype) == "torch.bfloat16":  # numpy has no bfloat16
                tensor = tensor.float()
            return tensor.numpy()
        except Exception as exc:  # sparse, quantized, meta tensors: torch's own errors
            found.append(f"{where}: cannot read this torch tensor ({_first_line(exc)})")
            return None
    try:
        return np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged lists
        found.append(
            f"{where} ({type(value).__name__}) is not a rectangular array "
            f"({_first_line(exc)})"
        )
        return None


def _dtype(array: np.ndarray) -> str:
    if array.dtype.kind == "O":
        return "dtype object (Python objects)"
    return f"dtype {array.dtype}"


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
