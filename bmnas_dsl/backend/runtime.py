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

from bmnas_dsl.errors import RuntimeSetupError

Provider = Literal["auto", "cpu", "cuda"]
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu")


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


def create_session(
    path: str | Path, provider: Provider = "auto", threads: int | None = None
) -> tuple[Any, str]:
    """An InferenceSession and the provider it really runs on; `threads` sets ORT's
    intra-op thread count (default: ORT's choice)."""
    ort = import_onnxruntime()

    def options(quiet: bool = False) -> Any:
        settings = ort.SessionOptions()
        if threads:
            settings.intra_op_num_threads = threads
        if quiet:  # a failed CUDA start is expected under `auto`: keep ORT quiet
            settings.log_severity_level = 4
        return settings

    available = ort.get_available_providers()
    if provider == "cuda" and CUDA not in available:
        raise RuntimeSetupError(
            f"the CUDA provider is not available (providers: {', '.join(available)}); "
            "install the [gpu] extra on a machine with an NVIDIA GPU"
        )
    if provider in ("auto", "cuda") and CUDA in available:
        session = ort.InferenceSession(
            str(path), options(quiet=provider == "auto"), providers=[CUDA, CPU]
        )
        used = session.get_providers()[0]
        if used == CUDA:
            return session, CUDA
        if provider == "cuda":
            raise RuntimeSetupError(
                "the CUDA provider is listed but does not run here (no usable GPU or "
                "CUDA libraries); use --provider cpu"
            )
    session = ort.InferenceSession(str(path), options(), providers=[CPU])
    return session, CPU
