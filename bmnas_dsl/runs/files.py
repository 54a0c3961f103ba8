"""A run directory's checkpoints (written atomically, read back without pickle) and its
JSONL log, kept in step with the checkpoint so that a resumed run continues exactly
where the checkpoint stands (`bmnas search` and `bmnas train`)."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
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
    except Exception as exc:  # torch's later lines advise weights_only=False: not here
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise error(
            f"{path}: cannot read the checkpoint ({reason or type(exc).__name__})"
        ) from None


def restore(
    load_state: Callable[[dict[str, Any]], None], path: Path, error: type[Exception]
) -> None:
    """Load the checkpoint at `path` into a run with `load_state`; `error` when the file
    is not a checkpoint of this kind of run (a search's in a training run, an edited one)."""
    state = load_checkpoint(path, error)
    try:
        load_state(state)
    except (KeyError, IndexError, RuntimeError, TypeError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise error(
            f"{path}: not a checkpoint of this run ({reason or type(exc).__name__})"
        ) from None


def remove_temporaries(run_dir: Path) -> None:
    """Delete what a kill inside write_atomic left behind (`.NAME.XXXX.tmp`): a resumed
    or restarted run must not keep a stale checkpoint's worth of bytes around."""
    for path in run_dir.glob(".*.tmp"):
        path.unlink(missing_ok=True)


def append_log(path: Path, entry: dict[str, Any]) -> None:
    """Add one JSON line (the whole file is rewritten atomically: logs are small)."""
    text = path.read_text() if path.exists() else ""
    write_atomic(path, text + json.dumps(entry) + "\n")


def truncate_log(path: Path, epochs: int) -> None:
    """Keep the lines of the epochs the checkpoint holds (a kill between the log and the
    checkpoint writes leaves one line too many)."""
    lines = path.read_text().splitlines(keepends=True) if path.exists() else []
    write_atomic(path, "".join(lines[:epochs]))
