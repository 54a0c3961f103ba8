"""Loading weights for a compiled model: safetensors or a state_dict file, never pickle.

`--weights` takes what a training run writes (docs/train.md): its `weights.safetensors`,
the run directory itself (meaning that file), or its `checkpoint.pt` (the state after the
last finished epoch, for a run that has not finished: its `model` entry is used); or a
state_dict saved with `torch.save(model.state_dict(), "w.pt")`. Every other file is
refused with one line saying what is accepted; torch.load runs with weights_only=True
only (torch's own advice to retry without it is never passed on: that would run the
file's code).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bmnas_dsl.errors import WeightsError
from bmnas_dsl.runs.layout import BEST_GENOTYPE, CHECKPOINT, WEIGHTS

ACCEPTED = (
    f"--weights takes a training run's {WEIGHTS} (`bmnas train FILE --data D -o "
    f"RUN_DIR` writes RUN_DIR/{WEIGHTS}; RUN_DIR itself also works), its "
    f"{CHECKPOINT}, or a state_dict saved with torch.save(model.state_dict(), PATH)"
)
SOURCE_SUFFIXES = {".py": "Python code", ".bmg": "a genotype", ".onnx": "an ONNX model"}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file, a training run directory or checkpoint, or a
    torch.save'd state_dict loaded with weights_only=True (which refuses arbitrary
    pickled objects); WeightsError, one line, for anything else."""
    path = _weights_file(Path(path))
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        with warnings.catch_warnings():  # e.g. an old pickle protocol: not a problem
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such file") from None
    except Exception as exc:  # every loader failure is a bad file for the user
        raise WeightsError(
            f"{path}: cannot read weights: {_reason(exc)}; {ACCEPTED}"
        ) from None
    return _state_dict_in(state, path)


def _weights_file(path: Path) -> Path:
    """The file to read: a run directory's weights; refusals of files that are
    certainly no weights (the run's model.py, a genotype) before torch reads them."""
    if path.is_dir():
        if (path / WEIGHTS).is_file():
            return path / WEIGHTS
        if (path / BEST_GENOTYPE).exists():
            hint = f"a search run directory: train its {BEST_GENOTYPE} first"
        elif (path / CHECKPOINT).is_file():
            hint = (
                "the run has not finished; its last finished epoch is in "
                f"{path / CHECKPOINT}"
            )
        else:
            hint = "not a finished training run"
        raise WeightsError(
            f"{path}: cannot read weights: a directory without {WEIGHTS} ({hint}); "
            f"{ACCEPTED}"
        )
    kind = SOURCE_SUFFIXES.get(path.suffix.lower())
    if kind and path.is_file():
        beside = path.parent / WEIGHTS
        hint = f" (the weights beside it: {beside})" if beside.is_file() else ""
        raise WeightsError(
            f"{path}: cannot read weights: {kind}, not weights{hint}; {ACCEPTED}"
        )
    return path


def _reason(exc: Exception) -> str:
    """The loader's reason in one line, without torch's advice to load with
    weights_only=False."""
    text = str(exc).strip()
    if "Weights only load failed" in text:
        return (
            "the file holds Python objects other than tensors (a pickle, a whole "
            "saved model, a .py file?), which bmnas never unpickles"
        )
    return text.splitlines()[0] if text else type(exc).__name__


def _state_dict_in(state: Any, path: Path) -> dict[str, torch.Tensor]:
    """The state_dict in what torch.load returned: itself, or a training checkpoint's
    `model` entry; a search checkpoint (the supernet's) is refused by name."""
    if isinstance(state, dict) and _is_state_dict(state.get("model")):
        if "arch_optimiser" in state:
            raise WeightsError(
                f"{path}: a search checkpoint (the supernet's weights, not a "
                f"genotype's): train the genotype first (`bmnas train "
                f"RUN/{BEST_GENOTYPE} --data D -o RUN_DIR`) and pass RUN_DIR/{WEIGHTS}"
            )
        return state["model"]
    if _is_state_dict(state):
        return state
    if isinstance(state, dict) and not state:
        what = "an empty mapping"
    elif isinstance(state, dict):
        keys = ", ".join(repr(k) for k in list(state)[:5])
        what = f"a mapping whose entries are not all name -> tensor (keys {keys})"
    else:
        what = f"a {type(state).__name__}"
    raise WeightsError(
        f"{path}: not a state_dict (a mapping of names to tensors) but {what}; "
        f"{ACCEPTED}"
    )


def _is_state_dict(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and bool(value)
        and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items()
        )
    )


def check_state_dict(
    model: nn.Module, state: dict[str, torch.Tensor], limit: int = 5, where: str = ""
) -> None:
    """Raise WeightsError naming the first missing, unexpected and mis-shaped keys
    (after `where: `, the file's name, when given)."""
    expected = model.state_dict()
    problems = []
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} (model: {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    for label, items in (
        ("missing", missing),
        ("unexpected", unexpected),
        ("wrong shape", shapes),
    ):
        if items:
            more = f" and {len(items) - limit} more" if len(items) > limit else ""
            problems.append(f"{label}: {', '.join(items[:limit])}{more}")
    if problems:
        prefix = f"{where}: " if where else ""
        raise WeightsError(
            f"{prefix}weights do not fit this genotype; " + "; ".join(problems)
        )


def load_weights(model: nn.Module, path: str | Path) -> None:
    file = _weights_file(Path(path))  # a run directory's weights.safetensors
    state = read_state_dict(file)
    check_state_dict(model, state, where=str(file))
    model.load_state_dict(state)
