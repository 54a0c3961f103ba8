"""bmnas: BM-NAS multimodal fusion search built like a compiler.

The public Python API (docs/api.md): the functions of `bmnas_dsl.api`, the feature-bank
type and its I/O, the analysis result and the errors. The names are loaded on first use,
so `import bmnas_dsl` (and every command) stays light: checking a genotype never imports
torch or numpy.
"""

from __future__ import annotations

import importlib
from typing import Any

from bmnas_dsl.errors import (
    BankError,
    BmnasError,
    ExportError,
    ExtractError,
    GenotypeError,
    InferError,
    NumericError,
    ReleasedGenotypeError,
    RuntimeSetupError,
    SearchError,
    TrainError,
    WeightsError,
)
from bmnas_dsl.version import __version__

# Public name -> the module that defines it. (No public name may be a subpackage's:
# importing bmnas_dsl.search would replace a function `search` on the package.)
_LAZY = {
    **{
        name: "bmnas_dsl.api"
        for name in (
            "analyse",
            "analyse_file",
            "compile_source",
            "export_onnx",
            "format_source",
            "import_released",
            "load_data",
            "load_model_class",
            "load_module",
            "read_source",
            "run_search",
            "run_training",
        )
    },
    "Frontend": "bmnas_dsl.passes.pipeline",
    "Diagnostic": "bmnas_dsl.lang.diagnostics",
    "BmgError": "bmnas_dsl.lang.diagnostics",
    "FeatureBank": "bmnas_dsl.data.bank",
    "load_bank": "bmnas_dsl.data.bank",
    "save_bank": "bmnas_dsl.data.bank",
    "BankWriter": "bmnas_dsl.data.bankwriter",
    "convert_bank": "bmnas_dsl.data.convert",
    "extract_bank": "bmnas_dsl.extract.runner",
    "Backbone": "bmnas_dsl.extract.backbone",
}

__all__ = [
    "BankError",
    "BmnasError",
    "ExportError",
    "ExtractError",
    "GenotypeError",
    "InferError",
    "NumericError",
    "ReleasedGenotypeError",
    "RuntimeSetupError",
    "SearchError",
    "TrainError",
    "WeightsError",
    "__version__",
    *sorted(_LAZY),
]


def __getattr__(name: str) -> Any:
    """PEP 562: import the module of a public name the first time it is used."""
    if name not in _LAZY:
        raise AttributeError(f"module 'bmnas_dsl' has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
