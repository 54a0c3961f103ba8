"""A run's log (`log.jsonl`, one JSON object per finished epoch) and its best epoch.

The one reader of logs: `bmnas report` and `bmnas viz` read a run directory someone
else may have written or edited, so every line is checked here, with one set of rules
and one message style (`FILE:LINE: what`). The best-epoch rule lives here too, and the
search stores its answer, computed on unrounded values, in `best.json`: the log rounds
its numbers, so recomputing the best epoch from it could disagree with `best.bmg`.
Pure Python (no torch): `viz` and `report` load it without the training stack.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmnas_dsl.errors import BmnasError
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.runs.layout import BEST_RECORD

# What a reader can use: numbers within +-MAX_VALUE (matplotlib's scales fail on spans
# near the float range), epochs 0..MAX_EPOCH.
MAX_VALUE = 1e12
MAX_EPOCH = 10**9


def is_number(value: Any) -> bool:
    """A JSON number a reader can use: not a bool, finite, and within +-MAX_VALUE."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= MAX_VALUE
    )


def is_epoch(value: Any) -> bool:
    """A JSON integer (not 1.0, not a bool) from 0 to MAX_EPOCH."""
    return (
        isinstance(value, int)
        and not isinstance(value, bool)
        and 0 <= value <= MAX_EPOCH
    )


NUMBER = f"a finite number within +-{MAX_VALUE:g}"
EPOCH = f"an integer from 0 to {MAX_EPOCH:,}"


def read_log(
    path: Path,
    error: type[BmnasError],
    numbers: Sequence[str] = ("val_metric",),
) -> list[dict[str, Any]]:
    """The log's records, each with an `epoch` and the fields `numbers` as numbers;
    `error` (one line, `FILE:LINE: what`) for anything else. Blank lines are skipped;
    a log with no record is an error (the run finished no epoch)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file (did the run finish an epoch?)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read ({exc})") from None
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            records.append(_record(line, f"{path}:{number}", error, numbers))
    if not records:
        raise error(f"{path}: no epoch logged yet")
    return records


def _record(
    line: str, where: str, error: type[BmnasError], numbers: Sequence[str]
) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise error(f"{where}: not JSON ({exc})") from None
    if not isinstance(record, dict):
        raise error(f"{where}: not a JSON object (expected one object per line)")
    checks = [("epoch", is_epoch, EPOCH)] + [
        (key, is_number, NUMBER) for key in numbers
    ]
    for key, valid, wanted in checks:
        if key not in record:
            raise error(f"{where}: no '{key}'")
        if not valid(record[key]):
            raise error(f"{where}: '{key}' is {record[key]!r}; it must be {wanted}")
    return record


def best_index(values: Sequence[float]) -> int:
    """The index of the best value; ties go to the later one (a later epoch that ties
    has trained longer). The one definition used by the search, `report` and `viz`."""
    if not values:
        raise ValueError("no values")
    top = max(values)
    return max(i for i, v in enumerate(values) if v == top)


def improves(value: float, best: float | None) -> bool:
    """Whether an epoch scoring `value` replaces the best so far (best_index's rule)."""
    return best is None or value >= best


@dataclass(frozen=True)
class Best:
    epoch: int
    val_metric: float


def write_best(run_dir: Path, best: Best) -> None:
    """Record the kept epoch with its unrounded metric (`best.json`)."""
    text = json.dumps({"epoch": best.epoch, "val_metric": best.val_metric})
    write_atomic(run_dir / BEST_RECORD, text + "\n")


def read_best(
    run_dir: Path, records: Sequence[dict[str, Any]], error: type[BmnasError]
) -> Best:
    """The kept epoch: `best.json` when the run wrote one (and it names a logged epoch),
    else best_index over the log (runs written before best.json existed)."""
    path = run_dir / BEST_RECORD
    epochs = {r["epoch"] for r in records}
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise error(f"{path}: not readable JSON ({exc})") from None
        if (
            not isinstance(data, dict)
            or not is_epoch(data.get("epoch"))
            or not is_number(data.get("val_metric"))
        ):
            raise error(f"{path}: expected {{'epoch': {EPOCH}, 'val_metric': number}}")
        if data["epoch"] in epochs:
            return Best(data["epoch"], float(data["val_metric"]))
        # A kill between best.json and the log leaves best.json one epoch ahead; the
        # log's own record then decides, as for an older run.
    index = best_index([float(r["val_metric"]) for r in records])
    return Best(records[index]["epoch"], float(records[index]["val_metric"]))
