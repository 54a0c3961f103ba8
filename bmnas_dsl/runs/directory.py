"""Which run directories a new `search` or `train` run may start in."""

from __future__ import annotations

from pathlib import Path

from bmnas_dsl.runs.layout import SETTINGS


def existing_run(run_dir: str | Path, overwrite: bool) -> str | None:
    """Why a new run may not start in `run_dir`, or None: a run directory already holding
    a run is only reused on request, so a failed new run cannot destroy a finished one.
    Every run writes its settings first: their presence means the directory holds a run."""
    if not overwrite and Path(run_dir, SETTINGS).exists():
        return (
            f"{run_dir} already holds a run; continue it with --resume, or start "
            "again with --overwrite (or choose another directory)"
        )
    return None
