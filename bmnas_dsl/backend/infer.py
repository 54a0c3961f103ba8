"""`bmnas infer`: run an exported model with ONNX Runtime on an .npz of its inputs or on
a feature bank (a data set name, or a bank file), and save or summarise the predictions
(docs/compile.md, "Inference with ONNX Runtime")."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bmnas_dsl.backend.runtime import Provider, RuntimeSetupError, create_session
from bmnas_dsl.data.bank import SPLITS, FeatureBank
from bmnas_dsl.data.resolve import NAMES, resolve_data
from bmnas_dsl.errors import InferError
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.nn.metrics import primary_name, scores

# Rows per ORT call: a large bank runs in pieces, so that the model's activations for
# all of it never need to be in memory at once.
CHUNK_ROWS = 1024


@dataclass
class Inference:
    """What `run_inference` computed: logits (N, K) for the rows given or chosen."""

    logits: np.ndarray
    provider: str
    inputs: list[str]  # the model's input names, in its order
    source: str  # --inputs as given
    bank: FeatureBank | None = None  # when the inputs came from a feature bank
    rows: np.ndarray | None = None  # the bank's rows, in order
    split: str = "all"  # the bank's split that was run

    @property
    def predicted(self) -> np.ndarray:
        """Class index per row; 0/1 per class (logit > 0) for a multilabel bank."""
        if self.bank is not None and self.bank.task == "multilabel":
            return (self.logits > 0).astype(np.int8)
        return self.logits.argmax(axis=1)


def load_inputs(spec: str) -> dict[str, np.ndarray] | FeatureBank:
    """`--inputs`: a data set name (`mfeat`, `mfeat:VIEW,...`, `planted`), a feature
    bank (an .npz with a bmnas `meta` entry, or a directory: read and validated as
    `--data` reads them), or an .npz of arrays named after the model's inputs."""
    if spec.partition(":")[0] == "mfeat" or spec == "planted":
        return resolve_data(spec)
    path = Path(spec)
    if path.is_dir() or (path.is_file() and _holds_meta(path)):
        return resolve_data(spec)  # a directory: whatever --data makes of it
    if not path.exists():
        raise InferError(
            f"{spec}: no such file (--inputs takes an .npz of the model's inputs, a "
            f"feature bank, or a data set name: {', '.join(NAMES)})"
        )
    return read_inputs(path)


def _holds_meta(path: Path) -> bool:
    """Whether the file is a zip (.npz) with a `meta` member, read from the zip's
    directory only; anything else is left to read_inputs to explain."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            return "meta.npy" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


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
    model: str | Path,
    inputs: str,
    provider: Provider = "auto",
    split: str | None = None,
    source: dict[str, np.ndarray] | FeatureBank | None = None,
) -> Inference:
    """The model's logits on `inputs` (see load_inputs; `source` is what it returned,
    when the caller has it already). `split` (train, val, test, all; default all)
    chooses a bank's rows; an .npz of inputs has no split."""
    _check_model_file(model)
    if source is None:
        source = load_inputs(inputs)
    if split not in (None, "all", *SPLITS):
        raise InferError(f"split '{split}' is not one of all, {', '.join(SPLITS)}")
    if split not in (None, "all") and not isinstance(source, FeatureBank):
        raise InferError(
            f"{inputs}: an .npz of inputs has no split; --split chooses rows of a "
            "feature bank"
        )
    session, used = open_session(model, provider)
    expected = session.get_inputs()
    names = [i.name for i in expected]
    result = Inference(np.empty((0, 0)), used, names, inputs, split=split or "all")
    # A bank's features are read a chunk of rows at a time (a bank directory stays on
    # disk); an .npz of inputs is in memory already.
    rows: np.ndarray | None = None
    if isinstance(source, FeatureBank):
        arrays = _bank_inputs(source, names, inputs, result)
        rows = result.rows
    else:
        arrays = source
        _check_names(arrays, names, inputs)
    outputs = session.get_outputs()
    if not expected:
        raise InferError(f"{model}: takes no inputs; bmnas infer runs exported models")
    if len(outputs) != 1:
        raise InferError(
            f"{model}: has {len(outputs)} outputs; bmnas infer runs models with one "
            "(logits), as `bmnas export` writes them"
        )
    feed = {}
    batch = None
    for spec in expected:
        array = arrays[spec.name]
        shape = array.shape if rows is None else (len(rows), *array.shape[1:])
        if not np.issubdtype(array.dtype, np.floating):
            raise InferError(
                f"input '{spec.name}' has dtype {array.dtype}; expected floats"
            )
        want = spec.shape
        if not want:
            raise InferError(
                f"{model}: input '{spec.name}' has no batch axis; bmnas infer runs "
                "models whose inputs are (N, ...)"
            )
        if len(shape) != len(want) or any(
            isinstance(w, int) and w != d for w, d in zip(want, shape, strict=False)
        ):
            shown = ["N" if not isinstance(w, int) else w for w in want]
            raise InferError(
                f"input '{spec.name}' has shape {list(shape)}; expected {shown}"
            )
        if batch is not None and shape[0] != batch:
            raise InferError(
                f"input '{spec.name}' has batch size {shape[0]}, others {batch}"
            )
        batch = shape[0]
        if batch == 0:
            raise InferError(f"input '{spec.name}' has no samples (batch size 0)")
        feed[spec.name] = array
    # A model with a fixed batch size (not one bmnas exported) runs in one call.
    chunked = all(not isinstance(spec.shape[0], int) for spec in expected)
    step = CHUNK_ROWS if chunked else max(batch or 1, 1)
    pieces = [
        run_session(session, model, _chunk(feed, rows, i, i + step))[0]
        for i in range(0, batch or 0, step)
    ]
    result.logits = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
    return result


def _chunk(
    feed: dict[str, np.ndarray], rows: np.ndarray | None, start: int, stop: int
) -> dict[str, np.ndarray]:
    """Rows start..stop of every input as contiguous float32, checked for NaN and Inf
    (a bank's rows: its `rows[start:stop]`, ascending as the bank's splits are)."""
    chunk = {}
    for name, array in feed.items():
        part = array[start:stop] if rows is None else array[rows[start:stop]]
        part = np.ascontiguousarray(part, dtype=np.float32)
        if not np.all(np.isfinite(part)):
            raise InferError(f"input '{name}' contains NaN or Inf")
        chunk[name] = part
    return chunk


def _check_names(arrays: dict[str, np.ndarray], names: list[str], where: str) -> None:
    """An .npz of inputs holds exactly the model's inputs: an extra array is most
    likely a misspelt one."""
    missing = [n for n in names if n not in arrays]
    extra = [n for n in arrays if n not in names]
    if missing or extra:
        raise InferError(
            f"{where}: the model takes {len(names)} input(s) {names}; "
            + (f"missing {missing}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"unexpected {extra}" if extra else "")
        )


def _bank_inputs(
    bank: FeatureBank, names: list[str], where: str, result: Inference
) -> dict[str, np.ndarray]:
    """The model's inputs from a bank (which holds more features than one model takes),
    restricted to the rows of `result.split`; records the bank and the rows."""
    missing = [n for n in names if n not in bank.features]
    if missing:
        raise InferError(
            f"{where}: the model takes {names}; the bank has no {missing} (its "
            f"features: {', '.join(bank.features)})"
        )
    result.bank = bank
    result.rows = (
        np.arange(bank.size) if result.split == "all" else bank.indices(result.split)
    )
    return {n: bank.features[n] for n in names}


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


def save_predictions(path: str | Path, result: Inference) -> list[str]:
    """Write `logits` (and, from a bank, `predicted`, `labels`, `split` and `index`, the
    bank's row of each prediction) atomically; the names written."""
    arrays = {"logits": result.logits}
    if result.bank is not None and result.rows is not None:
        arrays |= {
            "predicted": result.predicted,
            "labels": result.bank.labels[result.rows],
            "split": result.bank.split[result.rows],
            "index": result.rows.astype(np.int64),
        }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(path, buffer.getvalue())
    return list(arrays)


def summary(result: Inference) -> list[str]:
    """A few lines about the predictions, never the arrays themselves: rows, inputs,
    how often each class is predicted and, from a bank, the score per split."""
    rows, classes = result.logits.shape
    where = f"{result.source}"
    if result.bank is not None:
        where += " (all splits)" if result.split == "all" else f", {result.split} split"
    lines = [
        f"{where}: {rows} sample(s), input(s) {', '.join(result.inputs)} -> logits "
        f"[{rows}, {classes}]"
    ]
    bank = result.bank
    if bank is not None and bank.task == "multilabel":
        per_row = float(result.predicted.sum(axis=1).mean())
        lines.append(f"predicted labels per sample: {per_row:.2f} on average")
    else:
        counts = np.bincount(result.predicted, minlength=classes)
        label = "predicted class" if bank is not None else "argmax per class"
        shown = ", ".join(f"{k}: {int(n)}" for k, n in enumerate(counts) if n)
        lines.append(f"{label} counts: {shown}")
    if bank is not None and result.rows is not None:
        lines.append(_scores_line(result, bank, result.rows))
    return lines


def _scores_line(result: Inference, bank: FeatureBank, rows: np.ndarray) -> str:
    if result.logits.shape[1] != bank.classes:
        return (
            f"not scored: the model gives {result.logits.shape[1]} logits per sample, "
            f"the bank has {bank.classes} classes"
        )
    metric = primary_name(bank.task)
    splits = SPLITS if result.split == "all" else (result.split,)
    labels, codes = bank.labels[rows], bank.split[rows]
    parts = []
    for name in splits:
        chosen = np.flatnonzero(codes == SPLITS.index(name))
        if chosen.size:
            found = scores(bank.task, result.logits[chosen], labels[chosen])
            parts.append(f"{name} {found[metric]:.4f}")
    return f"{metric} against the bank's labels: {', '.join(parts)}"
