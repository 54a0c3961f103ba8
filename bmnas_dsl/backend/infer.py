"""`bmnas infer`: run an exported model on arrays from an .npz file with ONNX Runtime."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from bmnas_dsl.backend.runtime import Provider, RuntimeSetupError, create_session
from bmnas_dsl.errors import InferError
from bmnas_dsl.fileio import write_atomic


def read_inputs(path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of an .npz file; never unpickles (allow_pickle=False: an object array,
    which would need pickle, is refused with the other unreadable files)."""
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):  # a bare .npy array
            raise InferError(f"{path}: one .npy array, not an .npz of named arrays")
        with archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise InferError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise InferError(f"{path}: not a readable .npz of arrays ({exc})") from None
    # NpzFile returns the raw bytes of a member that is not a .npy array.
    foreign = [
        name for name, value in arrays.items() if not isinstance(value, np.ndarray)
    ]
    if foreign:
        raise InferError(f"{path}: not an .npz of arrays (member {foreign[0]!r})")
    return arrays


def run_inference(
    model: str | Path, inputs_path: str | Path, provider: Provider = "auto"
) -> tuple[np.ndarray, str]:
    """The logits of the model on the inputs, and the provider that computed them."""
    _check_model_file(model)
    arrays = read_inputs(inputs_path)
    session, used = open_session(model, provider)
    expected = session.get_inputs()
    names = [i.name for i in expected]
    missing = [n for n in names if n not in arrays]
    extra = [n for n in arrays if n not in names]
    if missing or extra:
        raise InferError(
            f"{inputs_path}: the model takes {len(names)} input(s) {names}; "
            + (f"missing {missing}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"unexpected {extra}" if extra else "")
        )
    outputs = session.get_outputs()
    if len(outputs) != 1:
        raise InferError(
            f"{model}: has {len(outputs)} outputs; bmnas infer runs models with one "
            "(logits), as `bmnas export` writes them"
        )
    feed = {}
    batch = None
    for spec in expected:
        array = arrays[spec.name]
        if not np.issubdtype(array.dtype, np.floating):
            raise InferError(
                f"input '{spec.name}' has dtype {array.dtype}; expected floats"
            )
        want = spec.shape
        if array.ndim != len(want) or any(
            isinstance(w, int) and w != d
            for w, d in zip(want, array.shape, strict=False)
        ):
            shown = ["N" if not isinstance(w, int) else w for w in want]
            raise InferError(
                f"input '{spec.name}' has shape {list(array.shape)}; expected {shown}"
            )
        if batch is not None and array.shape[0] != batch:
            raise InferError(
                f"input '{spec.name}' has batch size {array.shape[0]}, others {batch}"
            )
        batch = array.shape[0]
        if batch == 0:
            raise InferError(f"input '{spec.name}' has no samples (batch size 0)")
        if not np.all(np.isfinite(array)):
            raise InferError(f"input '{spec.name}' contains NaN or Inf")
        feed[spec.name] = np.ascontiguousarray(array, dtype=np.float32)
    [logits] = run_session(session, model, feed)
    return logits, used


def _check_model_file(model: str | Path) -> None:
    if not Path(model).is_file():
        reason = "not a file" if Path(model).exists() else "no such file"
        raise InferError(f"{model}: {reason}")


def open_session(
    model: str | Path, provider: Provider = "auto", threads: int | None = None
) -> tuple[Any, str]:
    """An ONNX Runtime session on `model` and the provider it runs on (create_session);
    InferError, one line, for a missing file or a model ORT cannot load. A missing or
    unusable ONNX Runtime stays a RuntimeSetupError."""
    _check_model_file(model)
    try:
        return create_session(model, provider, threads=threads)
    except RuntimeSetupError:
        raise
    except Exception as exc:  # ORT raises its own types for unreadable models
        raise InferError(
            f"{model}: not a loadable ONNX model ({first_line(exc)})"
        ) from None


def run_session(
    session: Any,
    model: str | Path,
    feed: dict[str, np.ndarray],
    outputs: list[str] | None = None,
) -> list[np.ndarray]:
    """`session.run(outputs, feed)`; InferError, one line, when ORT refuses the feed
    (inputs of other names, shapes or types than the model's) or fails."""
    try:
        return session.run(outputs, feed)
    except Exception as exc:  # ORT's own error types: a model these inputs do not fit
        raise InferError(f"{model}: inference failed: {first_line(exc)}") from None


def first_line(exc: Exception) -> str:
    """A one-line reason: ONNX Runtime's messages can span lines."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def save_logits(path: str | Path, logits: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, logits=logits)
    write_atomic(path, buffer.getvalue())
