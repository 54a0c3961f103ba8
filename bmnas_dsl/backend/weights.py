"""Loading weights for a compiled model: safetensors or a state_dict file, never pickle."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bmnas_dsl.errors import WeightsError


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Tensors from a .safetensors file, or from a torch.save'd state_dict loaded with
    weights_only=True (which refuses arbitrary pickled objects)."""
    path = Path(path)
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise WeightsError(f"{path}: no such file") from None
    except Exception as exc:  # every loader failure is a bad file for the user
        reason = (
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        )
        raise WeightsError(f"{path}: cannot read weights: {reason}") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise WeightsError(f"{path}: not a state_dict (a mapping of names to tensors)")
    return state


def check_state_dict(
    model: nn.Module, state: dict[str, torch.Tensor], limit: int = 5
) -> None:
    """Raise WeightsError naming the first missing, unexpected and mis-shaped keys."""
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
        raise WeightsError("weights do not fit this genotype; " + "; ".join(problems))


def load_weights(model: nn.Module, path: str | Path) -> None:
    state = read_state_dict(path)
    check_state_dict(model, state)
    model.load_state_dict(state)
