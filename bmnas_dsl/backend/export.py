"""`bmnas export`: a compiled model to one ONNX file, checked against PyTorch in ORT."""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from bmnas_dsl.backend.runtime import Provider, RuntimeSetupError, create_session
from bmnas_dsl.errors import ExportError
from bmnas_dsl.fileio import replace_atomic

TOLERANCE = 1e-4
CHECK_BATCH_SIZES = (1, 3)


@dataclass
class ExportReport:
    path: Path
    provider: str
    max_abs_diff: dict[int, float] = field(default_factory=dict)


@contextlib.contextmanager
def _quiet_exporter():
    """The dynamo exporter logs progress and torch-internal warnings: keep them away from
    the user's terminal (real failures still raise)."""
    loggers = [
        logging.getLogger(name) for name in ("torch.onnx", "torch.export", "onnxscript")
    ]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
        ):
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


def export_model(
    module: ModuleType,
    model: torch.nn.Module,
    path: str | Path,
    provider: Provider = "auto",
    tolerance: float = TOLERANCE,
) -> ExportReport:
    """Export `model` (an instance of `module.Model`) to `path` atomically, after checking
    ONNX Runtime against PyTorch on random inputs at two batch sizes."""
    path = Path(path)
    model = model.eval()
    names = [name for name, _ in module.INPUTS]
    arguments = list(inspect.signature(model.forward).parameters)
    batch = torch.export.Dim("N", min=1)
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=".tmp", dir=path.parent
        )
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(
                model,
                module.example_inputs(2),
                dynamo=True,
                external_data=False,
                verbose=False,
                input_names=names,
                output_names=["logits"],
                dynamic_shapes={arg: {0: batch} for arg in arguments},
            )
            program.save(tmp)
        report = ExportReport(path=path, provider="")
        session, report.provider = create_session(tmp, provider)
        generator = torch.Generator().manual_seed(0)
        for size in CHECK_BATCH_SIZES:
            inputs = [
                torch.randn(size, *shape, generator=generator)
                for _, shape in module.INPUTS
            ]
            with torch.no_grad():
                expected = model(*inputs).numpy()
            [got] = session.run(
                ["logits"], {n: x.numpy() for n, x in zip(names, inputs, strict=True)}
            )
            difference = float(np.max(np.abs(got - expected))) if got.size else 0.0
            report.max_abs_diff[size] = difference
            if not difference <= tolerance * (
                1 + float(np.max(np.abs(expected), initial=0))
            ):
                raise ExportError(
                    f"ONNX Runtime ({report.provider}) disagrees with PyTorch at batch {size}: "
                    f"max |difference| {difference:.3g} > tolerance {tolerance:g}"
                )
        replace_atomic(tmp, path)
        return report
    except (ExportError, RuntimeSetupError):
        raise
    except Exception as exc:
        raise ExportError(f"export failed: {type(exc).__name__}: {exc}") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)
