"""Resuming an extraction: a partial bank continues only with the settings it was
started with. The streaming writer checks the layout (size, shapes, dtype); the rest
(weights, layers, pooling, the model, the user's info) is kept beside the partial bank
in `.NAME.extract.json`, written when it starts and removed when the bank is complete,
and the rows already written must have the labels and split given now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bmnas_dsl.data.bankdir import LABELS, SPLIT
from bmnas_dsl.data.bankwriter import BankWriter, partial_path
from bmnas_dsl.extract.errors import ExtractError
from bmnas_dsl.fileio import write_atomic

AGAIN = "extract again without resume"


def settings_path(path: Path) -> Path:
    """Where a partial extraction keeps the settings it was started with."""
    return path.parent / f".{path.name}.extract.json"


def check_settings(path: Path, info: dict[str, Any]) -> None:
    """Before the writer opens a partial bank (whose own check would only say that
    its shapes differ): the settings it was started with are these."""
    where = settings_path(path)
    if not partial_path(path).is_dir() or not where.is_file():
        return  # nothing to continue, or a partial bank keep_settings refuses
    try:
        before = json.loads(where.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ExtractError(
            f"{path}: cannot read {where}, the settings of the partial bank; {AGAIN}"
        ) from None
    now = json.loads(json.dumps(info, sort_keys=True))  # tuples as lists, like JSON's
    difference = _first_difference(before, now)
    if difference:
        raise ExtractError(
            f"{path}: the partial bank was extracted with other settings ({difference}); "
            f"resume with the same ones, or {AGAIN}"
        )


def keep_settings(
    path: Path,
    writer: BankWriter,
    info: dict[str, Any],
    labels: np.ndarray,
    split: np.ndarray,
) -> None:
    """Record the settings of a new partial bank; for a continued one, check that its
    settings were recorded and that its rows have these labels and split."""
    where, rows = settings_path(path), writer.rows
    if rows == 0:
        write_atomic(where, json.dumps(info, indent=2, sort_keys=True) + "\n")
        return
    if not where.is_file():
        raise ExtractError(
            f"{path}: cannot tell what wrote the partial bank ({where} is missing); "
            f"{AGAIN}"
        )
    for what, given, name in (("labels", labels, LABELS), ("split", split, SPLIT)):
        if not np.array_equal(writer.arrays[name][:rows], given[:rows]):
            raise ExtractError(
                f"{path}: the partial bank's first {rows} rows have other {what} than "
                f"the ones given now; resume with the same data, or {AGAIN}"
            )


def _first_difference(before: Any, now: Any, key: str = "") -> str | None:
    if isinstance(before, dict) and isinstance(now, dict):
        for name in sorted(set(before) | set(now)):
            found = _first_difference(
                before.get(name), now.get(name), f"{key}.{name}" if key else name
            )
            if found:
                return found
        return None
    if before != now:
        return f"{key}: {json.dumps(before)} then, {json.dumps(now)} now"
    return None
