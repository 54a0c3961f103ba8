"""The epoch loop that `bmnas search` and `bmnas train` share: start or resume a run
directory, then per epoch train, score, log, checkpoint and report progress.

What differs between the two lives in the run object (`EpochRun`): what one epoch does,
what is scored after it, and what else an epoch leaves in the directory (the search's
best genotype). The order of the writes is what makes a kill at any moment resumable:
the log line and the run's own files come before the checkpoint, and a resume drops the
log lines the checkpoint does not hold.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Protocol

from bmnas_dsl.errors import BmnasError
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.nn.numeric import NumericError, stopped
from bmnas_dsl.runs.files import (
    append_log,
    remove_temporaries,
    restore,
    save_checkpoint,
    truncate_log,
)
from bmnas_dsl.runs.layout import CHECKPOINT, LOG, SETTINGS
from bmnas_dsl.runs.progress import Note, Progress, Tick, no_note, no_tick


class EpochRun(Protocol):
    """A search or a training run as the loop drives it."""

    epoch: int  # finished epochs
    seconds: float  # time spent in finished epochs

    def run_epoch(self, tick: Tick) -> dict[str, float]:
        """One epoch of updates (each reported to `tick`): its losses."""
        ...

    def evaluate(self) -> dict[str, float]: ...  # scores after the epoch (may be {})
    def finish_epoch(
        self, record: dict[str, Any], run_dir: Path, note: Note
    ) -> dict[str, Any]:
        """The epoch's log entry; may write the run's own files (before the checkpoint)
        and `note` what takes long meanwhile."""
        ...

    def progress_line(self, entry: dict[str, Any]) -> str: ...
    def state(self) -> dict[str, Any]: ...
    def load_state(self, state: dict[str, Any]) -> None: ...


def start(
    run_dir: Path,
    settings: dict[str, Any],
    stale: Iterable[str] = (),
    files: dict[str, str] | None = None,
) -> None:
    """A new run in `run_dir`: what an earlier run left (`stale` files, a checkpoint,
    temporaries) is removed, then `files`, an empty log and settings.json are written."""
    run_dir.mkdir(parents=True, exist_ok=True)
    remove_temporaries(run_dir)
    # A stale checkpoint would be resumed as if it were this run's.
    for name in {*stale, CHECKPOINT, SETTINGS}:
        (run_dir / name).unlink(missing_ok=True)
    for name, text in (files or {}).items():
        write_atomic(run_dir / name, text)
    write_atomic(run_dir / LOG, "")
    write_atomic(run_dir / SETTINGS, json.dumps(settings, indent=2) + "\n")


def resume(
    run: EpochRun, run_dir: Path, error: type[BmnasError], writes: bool = True
) -> None:
    """Continue the run in `run_dir` from its checkpoint; without one (killed before the
    first epoch ended) from epoch 0. Log lines past the checkpoint are dropped (by the
    process that `writes` the directory: rank 0 of a distributed run; the other ranks
    only read the checkpoint)."""
    if writes:
        remove_temporaries(run_dir)
    if (run_dir / CHECKPOINT).exists():
        restore(run.load_state, run_dir / CHECKPOINT, error)
    if writes:
        truncate_log(run_dir / LOG, run.epoch)


def run_epochs(
    run: EpochRun,
    epochs: int,
    run_dir: Path,
    what: str,
    show_progress: bool = True,
    writes: bool = True,
) -> None:
    """Run epochs until `epochs` are finished. A NaN or Inf stops the run with a
    NumericError that names `what` ("the search", "training") and the checkpoint kept.
    Without `writes` (ranks other than 0) nothing is written or shown."""
    progress = Progress(epochs, run.epoch) if show_progress and writes else None
    tick = progress.tick if progress else no_tick
    note = progress.note if progress else no_note
    while run.epoch < epochs:
        start_time = time.perf_counter()
        try:
            record = run.run_epoch(tick)
        except NumericError as exc:
            raise stopped(exc, what, run.epoch, run_dir / CHECKPOINT) from None
        record.update(run.evaluate())
        run.epoch += 1
        run.seconds += time.perf_counter() - start_time
        entry = run.finish_epoch(record, run_dir, note)
        if writes:
            append_log(run_dir / LOG, entry)
            save_checkpoint(run.state(), run_dir / CHECKPOINT)
        if progress:
            progress.epoch_done(run.progress_line(entry))
