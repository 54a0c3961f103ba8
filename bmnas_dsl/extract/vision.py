"""torchvision's models by name, for `bmnas extract --model torchvision:NAME`.

torchvision is an optional extra (`pip install 'bmnas[extract]'`): extraction itself
needs only torch. One workaround lives here. torchvision's wheels on PyPI are built
for the CUDA build of torch; with the CPU build, their C++ ops cannot load, and torchvision
0.28 then fails on import (`operator torchvision::nms does not exist`, pytorch/vision
issue 9337): it registers fake kernels for two of those ops without checking that they
loaded, as it checks for all the others. When, and only when, the import fails that way,
the two op schemas are declared and the import is tried again. Nothing that needs the C++
kernels starts working (`torchvision.ops.nms`, the detection models, still raise
torchvision's own "Couldn't load custom C++ ops"); the classification backbones, which
are plain torch, load and run.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any

import torch
from torch import nn

from bmnas_dsl.extract.errors import ExtractError

INSTALL = (
    "install the torchvision built for your torch (pip install 'bmnas[extract]' "
    "for torch 2.13)"
)
# The ops torchvision 0.28 registers fake kernels for unconditionally, as its C++
# library declares them.
UNGUARDED_OPS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor qdets, Tensor scores, float iou_threshold) -> Tensor",
)
_declared: list[Any] = []  # the library object must live as long as the process


def import_torchvision() -> ModuleType:
    """torchvision, or ExtractError saying how to get one that imports."""
    try:
        import torchvision
    except ImportError:
        raise ExtractError(f"torchvision is not installed; {INSTALL}") from None
    except RuntimeError as exc:
        if "torchvision::nms" not in str(exc) or _declared:
            raise ExtractError(
                f"torchvision cannot be imported ({_first_line(exc)}); {INSTALL}"
            ) from None
        _declare_unguarded_ops()
        for name in [m for m in sys.modules if m.split(".")[0] == "torchvision"]:
            del sys.modules[name]  # the failed import's half-loaded modules
        return import_torchvision()
    return torchvision


def torchvision_model(name: str) -> nn.Module:
    """`torchvision.models.get_model(name)` with its default random initialisation
    (weights come from --weights, never from a download)."""
    torchvision = import_torchvision()
    known = sorted(torchvision.models.list_models())
    if name not in known:
        from bmnas_dsl.lang.names import suggest

        raise ExtractError(
            f"torchvision has no model '{name}'{suggest(name, known)}; its models: "
            "torchvision.models.list_models()"
        )
    return torchvision.models.get_model(name, weights=None)


def _declare_unguarded_ops() -> None:
    library = torch.library.Library("torchvision", "DEF")
    for schema in UNGUARDED_OPS:
        library.define(schema)
    _declared.append(library)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
