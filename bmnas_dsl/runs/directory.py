"""Which run directories a new `search` or `train` run may start in, what kind of run a
directory holds, and reading the genotype a run directory holds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from bmnas_dsl.errors import BmnasError
from bmnas_dsl.lang.diagnostics import BmgError
from bmnas_dsl.lang.source import read_source
from bmnas_dsl.passes.pipeline import Frontend
from bmnas_dsl.runs.layout import BEST_GENOTYPE, GENOTYPE, SETTINGS

RunKind = Literal["search", "training"]


def existing_run(run_dir: str | Path, overwrite: bool) -> str | None:
    """Why a new run may not start in `run_dir`, or None: a run directory already holding
    a run is only reused on request, so a failed new run cannot destroy a finished one.
    Every run writes settings.json when it starts: its presence means the directory holds
    a run."""
    if not overwrite and Path(run_dir, SETTINGS).exists():
        return (
            f"{run_dir} already holds a run; continue it with --resume, or start "
            "again with --overwrite (or choose another directory)"
        )
    return None


def run_kind(run_dir: str | Path) -> RunKind | None:
    """Whether `run_dir` holds a search run or a training run, by what each kind writes
    first (a training run copies its genotype when it starts, a search writes its
    settings with a `space`), or None when it holds neither."""
    path = Path(run_dir)
    if (path / GENOTYPE).is_file():
        return "training"
    try:
        settings = json.loads((path / SETTINGS).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        settings = None
    if isinstance(settings, dict) and "space" in settings:
        return "search"
    if isinstance(settings, dict) and "settings" in settings:
        return "training"
    return "search" if (path / BEST_GENOTYPE).is_file() else None


def read_genotype(path: Path, error: type[BmnasError]) -> str:
    """A run directory's genotype, read like any .bmg file (size limit, UTF-8): the
    directory may come from someone else. `error` with the located diagnostics when it
    cannot be read as one; FileNotFoundError passes through."""
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    try:
        return read_source(path)
    except BmgError as exc:
        raise error(
            Frontend(str(path), "", exc.diagnostics).render_diagnostics()
        ) from None
