"""A search's settings.json: what it records when the run starts and how `--resume` reads
it back (torch-free: the CLI reads it before anything heavy is imported)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bmnas_dsl.data.fingerprint import short
from bmnas_dsl.errors import SearchError
from bmnas_dsl.runs.layout import SETTINGS
from bmnas_dsl.search.settings import Training
from bmnas_dsl.search.space import SearchSpace


def settings_json(
    space: SearchSpace,
    training: Training,
    data: str,
    output: str,
    data_sha256: str,
    world_size: int = 1,
) -> dict[str, Any]:
    return {
        "data": data,
        "data_sha256": data_sha256,
        "output": output,
        "space": space.to_json(),
        "training": asdict(training),
        # The processes that started the run; training.batch_size is the global batch,
        # which is what the results depend on (a resume may use another world size).
        "world_size": world_size,
        "global_batch_size": training.batch_size,
    }


def check_same_data(run_dir: Path, data_sha256: str) -> None:
    """A resumed search must see the data it started with (runs written before the
    hash was recorded are trusted)."""
    try:
        recorded = json.loads((run_dir / SETTINGS).read_text()).get("data_sha256")
    except (OSError, ValueError, AttributeError):
        recorded = None
    if recorded is not None and recorded != data_sha256:
        raise SearchError(
            f"{run_dir}: the run started on data with content sha256 "
            f"{short(recorded)}, this data has {short(data_sha256)}; resume it on the "
            "same data (or start a new run directory)"
        )


def read_settings(run_dir: Path) -> tuple[SearchSpace, Training, str, str]:
    """The settings a run was started with: space, training, data and output path."""
    try:
        data = json.loads((run_dir / SETTINGS).read_text())
        return (
            SearchSpace.from_json(data["space"]),
            # Runs recorded before --selection existed derived inputs from alpha.
            Training(**{"selection": "paper", **data["training"]}),
            data["data"],
            data["output"],
        )
    except FileNotFoundError:
        raise SearchError(
            f"{run_dir}: no {SETTINGS}; not a search run directory"
        ) from None
    except (KeyError, TypeError, ValueError) as exc:
        raise SearchError(
            f"{run_dir / SETTINGS}: unreadable settings ({exc})"
        ) from None
