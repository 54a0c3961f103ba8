"""`extract_bank`: run the user's backbones over a data set and write the captured layers
into a bank directory (docs/data.md, "Extracting a bank from your own backbones").

Each backbone runs in eval mode (its former mode is restored afterwards) under
`torch.inference_mode()`, on the device its parameters are on. Every batch is one chunk
of the streaming writer (`data/bankwriter.py`), so an extraction that is killed or fails
can be resumed (`resume=True`) from its last written batch (resume.py says what must
match). The bank's `info` records, per backbone, the model, its weights (the file's
SHA-256 and the SHA-256 of the state it ran with), the capture method and the captured
layers with their raw shapes.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch

from bmnas_dsl.data.bankwriter import BankWriter
from bmnas_dsl.extract.backbone import Backbone, model_input, prepare
from bmnas_dsl.extract.batches import batches
from bmnas_dsl.extract.capture import Capture, capture_layers
from bmnas_dsl.extract.checks import Request, at, check_request
from bmnas_dsl.extract.errors import ExtractError
from bmnas_dsl.extract.pooling import CapturePool, stored_shape
from bmnas_dsl.extract.progress import RowProgress
from bmnas_dsl.extract.resume import check_settings, keep_settings, settings_path
from bmnas_dsl.version import __version__

FLOAT16_MAX = 65504.0  # larger values would be stored as Inf


@dataclass
class Extraction:
    """What an extraction did: the bank, the rows this call wrote (from `resumed_from`),
    and per backbone the capture used and why FX was not."""

    path: Path
    rows: int = 0
    resumed_from: int = 0
    seconds: float = 0.0
    captures: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


def extract_bank(
    path: str | Path,
    backbones: Mapping[str, Backbone],
    samples: Any,
    labels: Any,
    split: Any,
    *,
    task: str = "multiclass",
    classes: int | None = None,
    pool: int | None = None,
    dtype: str = "float32",
    batch_size: int = 64,
    workers: int = 0,
    capture: str = "auto",
    info: dict[str, Any] | None = None,
    overwrite: bool = False,
    resume: bool = False,
    progress: bool | TextIO = True,
) -> Extraction:
    """Write bank directory `path` with the `backbones`' layers over `samples` (one
    modality per backbone; batches.py lists the forms `samples` may take).

    `pool=L` stores every map as (C_in, L), pooled exactly as the generated model's
    reshape layer pools (pooling.py); None stores the raw maps. `classes` defaults to
    the largest label + 1 (multiclass) or the labels' width (multilabel). Every check
    that needs no model output runs before anything is written (checks.py).
    """
    started = time.monotonic()
    path = Path(path)
    request = check_request(
        path,
        backbones,
        samples,
        labels,
        split,
        task=task,
        classes=classes,
        pool=pool,
        dtype=dtype,
        batch_size=batch_size,
        workers=workers,
        info=info,
    )
    result = Extraction(path)
    modes = {m: b.model.training for m, b in backbones.items()}
    try:
        records = {m: prepare(b) for m, b in backbones.items()}
        with torch.inference_mode(), ExitStack() as stack:
            _, _, probe = next(batches(samples, 0, 1))  # the first sample
            captures = {}
            for modality, backbone in backbones.items():
                captures[modality], method, note = stack.enter_context(
                    capture_layers(
                        backbone.model,
                        list(request.plan[modality].values()),
                        capture,
                        model_input(backbone, probe, modality),
                        at(str(path), modality),
                    )
                )
                result.captures[modality] = records[modality]["capture"] = method
                if note:
                    result.notes[modality] = note
            raw = _raw_shapes(backbones, captures, request.plan, probe)
            full_info = {
                **request.info,
                "extraction": _extraction_info(request, records, raw, pool, dtype),
            }
            if resume:
                check_settings(path, full_info)
            writer = BankWriter(
                path,
                size=request.rows,
                features={n: stored_shape(shape, pool) for n, shape in raw.items()},
                task=task,
                classes=request.classes,
                dtype=dtype,
                info=full_info,
                overwrite=overwrite,
                resume=resume,
            )
            keep_settings(path, writer, full_info, request.labels, request.split)
            result.resumed_from = writer.rows
            _write_rows(
                writer,
                backbones,
                captures,
                request,
                samples,
                raw,
                pool=pool,
                dtype=dtype,
                batch_size=batch_size,
                workers=workers,
                progress=RowProgress(request.rows, writer.rows, _stream(progress)),
            )
            result.rows = writer.rows - result.resumed_from
            writer.close()
        settings_path(path).unlink(missing_ok=True)
    finally:
        for modality, backbone in backbones.items():
            backbone.model.train(modes[modality])
    result.seconds = time.monotonic() - started
    return result


def _write_rows(
    writer: BankWriter,
    backbones: Mapping[str, Backbone],
    captures: dict[str, Capture],
    request: Request,
    samples: Any,
    raw: dict[str, tuple[int, ...]],
    *,
    pool: int | None,
    dtype: str,
    batch_size: int,
    workers: int,
    progress: RowProgress,
) -> None:
    """Every batch from the writer's first unwritten row on, as one chunk."""
    pooling = CapturePool(pool)
    where = str(writer.path)
    for first, end, inputs in batches(samples, writer.rows, batch_size, workers):
        chunk = {}
        for modality, backbone in backbones.items():
            found = captures[modality](model_input(backbone, inputs, modality))
            for name, layer in request.plan[modality].items():
                chunk[name] = _stored(
                    found[layer],
                    pooling,
                    raw[name],
                    dtype,
                    range(first, end),
                    f"{at(where, modality)}: layer '{layer}'",
                )
        labels, split = request.labels[first:end], request.split[first:end]
        writer.append(chunk, labels=labels, split=split)
        progress.update(end)


def _raw_shapes(
    backbones: Mapping[str, Backbone],
    captures: dict[str, Capture],
    plan: dict[str, dict[str, str]],
    probe: Any,
) -> dict[str, tuple[int, ...]]:
    """Each feature's per-sample shape, as its layer gives it for the first sample."""
    shapes = {}
    for modality, backbone in backbones.items():
        found = captures[modality](model_input(backbone, probe, modality))
        for name, layer in plan[modality].items():
            shapes[name] = tuple(int(d) for d in found[layer].shape[1:])
    return shapes


def _extraction_info(
    request: Request,
    records: dict[str, dict[str, Any]],
    raw: dict[str, tuple[int, ...]],
    pool: int | None,
    dtype: str,
) -> dict[str, Any]:
    return {
        "tool": f"bmnas {__version__}",
        "pool": pool,
        "dtype": dtype,
        "backbones": {
            modality: {
                **records[modality],
                "layers": dict(features),
                "raw_shapes": {name: list(raw[name]) for name in features},
            }
            for modality, features in request.plan.items()
        },
    }


def _stored(
    output: torch.Tensor,
    pooling: CapturePool,
    raw: tuple[int, ...],
    dtype: str,
    rows: range,
    where: str,
) -> torch.Tensor:
    """A layer's output for `rows` as the bank stores it, checked."""
    span = f"rows {rows.start}..{rows.stop - 1}"
    if tuple(output.shape) != (len(rows), *raw):
        raise ExtractError(
            f"{where}: gave {list(output.shape)} for {span}, expected "
            f"{[len(rows), *raw]} (the first sample's shape); inputs must share one "
            "size"
        )
    stored = pooling(output).float()
    if not bool(torch.isfinite(stored).all()):
        raise ExtractError(f"{where}: gave NaN or Inf for {span}")
    if dtype == "float16" and float(stored.abs().max()) > FLOAT16_MAX:
        raise ExtractError(
            f"{where}: gave values beyond float16's range (|x| > {FLOAT16_MAX:g}) for "
            f"{span}; extract with dtype float32"
        )
    return stored


def _stream(progress: bool | TextIO) -> TextIO | None:
    if progress is True:
        return sys.stderr
    return progress or None
