"""A backbone's weights: loading a state_dict file into it, and the hashes a bank records
(docs/data.md): the file's SHA-256, to say which download or checkpoint was used, and
the SHA-256 of the state the model actually ran with, which exists for weights that
never were a file (a backbone trained in the same script) and differs whenever the
features could."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bmnas_dsl.extract.errors import ExtractError

CHUNK = 1 << 24  # bytes hashed at a time: a large checkpoint is never read whole
ACCEPTED = (
    "give a state_dict saved with torch.save(model.state_dict(), PATH) or a "
    ".safetensors file"
)
SHOWN = 3  # names listed in a message before "..."


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def state_sha256(model: nn.Module) -> str:
    """SHA-256 over every parameter and buffer of the state_dict: name, dtype, shape,
    bytes, in name order."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{value.dtype}|{list(value.shape)}|".encode())
        # Viewed as bytes: numpy has no bfloat16, and the bits are what matters.
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a state_dict file (torch.load with weights_only=True: no pickled
    code runs); a {"state_dict": ...} or {"model": ...} checkpoint gives its entry."""
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            state: Any = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ExtractError(f"{path}: no such file") from None
    except Exception as exc:  # every loader failure is a bad file for the user
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ExtractError(
            f"{path}: cannot read weights ({type(exc).__name__}: {reason}); {ACCEPTED}"
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ExtractError(f"{path}: not a state_dict of tensors; {ACCEPTED}")
    return state


def load_weights(model: nn.Module, path: str | Path) -> None:
    """Load the file into the model, every tensor of the model and no other."""
    path = Path(path)
    state = read_weights(path)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    resized = sorted(
        f"{k} {list(state[k].shape)} for {list(expected[k].shape)}"
        for k in set(state) & set(expected)
        if state[k].shape != expected[k].shape
    )
    problems = [
        f"{len(names)} {what} ({_listed(names)})"
        for what, names in (
            ("missing", missing),
            ("unexpected", unexpected),
            ("of another shape", resized),
        )
        if names
    ]
    if problems:
        raise ExtractError(
            f"{path}: does not fit the model ({type(model).__name__}): "
            + "; ".join(problems)
        )
    model.load_state_dict(state, strict=True)


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN])
    return shown + (", ..." if len(names) > SHOWN else "")
