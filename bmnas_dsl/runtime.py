"""ONNX Runtime: finding the installed package and choosing an execution provider.

`onnxruntime` and `onnxruntime-gpu` install the same module and overwrite each other, and
the GPU package lists the CUDA provider even on machines without a GPU; so the provider a
session really uses is read back from the session (see shared/reference/toolchain.md).
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

Provider = Literal["auto", "cpu", "cuda"]
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu")


class RuntimeSetupError(Exception):
    """ONNX Runtime is missing or cannot provide what was asked; the message says why."""


def installed_distributions() -> list[str]:
    found = []
    for name in DISTRIBUTIONS:
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def import_onnxruntime() -> ModuleType:
    found = installed_distributions()
    if not found:
        raise RuntimeSetupError(
            "ONNX Runtime is not installed: install bmnas with the [cpu] extra "
            "(onnxruntime) or, on a CUDA machine, the [gpu] extra (onnxruntime-gpu)"
        )
    if len(found) > 1:
        print(
            "bmnas: warning: both onnxruntime and onnxruntime-gpu are installed; they "
            "overwrite each other's files, so which one runs is undefined. Uninstall both "
            "and reinstall one ([cpu] or [gpu] extra).",
            file=sys.stderr,
        )
    import onnxruntime

    return onnxruntime


def create_session(path: str | Path, provider: Provider = "auto") -> tuple[Any, str]:
    """An InferenceSession and the provider it really runs on."""
    ort = import_onnxruntime()
    available = ort.get_available_providers()
    if provider == "cuda" and CUDA not in available:
        raise RuntimeSetupError(
            f"the CUDA provider is not available (providers: {', '.join(available)}); "
            "install the [gpu] extra on a machine with an NVIDIA GPU"
        )
    if provider in ("auto", "cuda") and CUDA in available:
        options = ort.SessionOptions()
        if provider == "auto":
            options.log_severity_level = (
                4  # a failed CUDA start is expected here: quiet
            )
        session = ort.InferenceSession(str(path), options, providers=[CUDA, CPU])
        used = session.get_providers()[0]
        if used == CUDA:
            return session, CUDA
        if provider == "cuda":
            raise RuntimeSetupError(
                "the CUDA provider is listed but does not run here (no usable GPU or "
                "CUDA libraries); use --provider cpu"
            )
    session = ort.InferenceSession(str(path), providers=[CPU])
    return session, CPU
