"""The files of a run directory shared by `bmnas search` and `bmnas train`: checkpoints
(written atomically, read back without pickle) and the JSONL log, kept in step with the
checkpoint so that a resumed run continues exactly where the checkpoint stands."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import torch

from bmnas_dsl.fileio import write_atomic


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    write_atomic(path, buffer.getvalue())


def load_checkpoint(path: Path, error: type[Exception]) -> dict[str, Any]:
    """The state saved at `path` (tensors, numbers, strings only: weights_only);
    `error` with the reason when the file cannot be read."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise error(f"{path}: cannot read the checkpoint ({exc})") from None


def append_log(path: Path, entry: dict[str, Any]) -> None:
    """Add one JSON line (the whole file is rewritten atomically: logs are small)."""
    text = path.read_text() if path.exists() else ""
    write_atomic(path, text + json.dumps(entry) + "\n")


def truncate_log(path: Path, epochs: int) -> None:
    """Keep the lines of the epochs the checkpoint holds (a kill between the log and the
    checkpoint writes leaves one line too many)."""
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    write_atomic(path, "".join(lines[:epochs]))
