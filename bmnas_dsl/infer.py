"""`bmnas infer`: run an exported model on arrays from an .npz file with ONNX Runtime."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.runtime import Provider, RuntimeSetupError, create_session


class InferError(Exception):
    """Inputs or model that cannot be run; the message says what and where."""


def read_inputs(path: str | Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as archive:
            return {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise InferError(f"{path}: no such file") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise InferError(f"{path}: not a readable .npz of arrays ({exc})") from None


def run_inference(
    model: str | Path, inputs_path: str | Path, provider: Provider = "auto"
) -> tuple[np.ndarray, str]:
    """The logits of the model on the inputs, and the provider that computed them."""
    if not Path(model).is_file():
        raise InferError(f"{model}: no such file")
    arrays = read_inputs(inputs_path)
    try:
        session, used = create_session(model, provider)
    except RuntimeSetupError:
        raise
    except Exception as exc:  # ORT raises its own types for unreadable models
        raise InferError(f"{model}: not a loadable ONNX model ({exc})") from None
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
        if not np.all(np.isfinite(array)):
            raise InferError(f"input '{spec.name}' contains NaN or Inf")
        feed[spec.name] = np.ascontiguousarray(array, dtype=np.float32)
    [logits] = session.run(None, feed)
    return logits, used


def save_logits(path: str | Path, logits: np.ndarray) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, logits=logits)
    write_atomic(path, buffer.getvalue())
