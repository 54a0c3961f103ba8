"""Data sets bmnas knows by name, and `--data` resolution (a name or a bank path)."""

from __future__ import annotations

import os
from pathlib import Path

from bmnas_dsl.bank import BankError, FeatureBank, load_bank

NAMES = ("mfeat", "planted")


def cache_root() -> Path:
    """Where prepared data sets are kept: $BMNAS_DATA_DIR, else ~/.cache/bmnas/data."""
    if os.environ.get("BMNAS_DATA_DIR"):
        return Path(os.environ["BMNAS_DATA_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bmnas" / "data"


def resolve_data(spec: str) -> FeatureBank:
    """`mfeat`, `mfeat:fou,kar` (views), `planted`, or the path of a feature bank."""
    name, _, options = spec.partition(":")
    if name == "mfeat":
        from bmnas_dsl.datasets.mfeat import DEFAULT_VIEWS, load_mfeat

        views = tuple(v for v in options.split(",") if v) or DEFAULT_VIEWS
        return load_mfeat(views)
    if name == "planted" and not options:
        from bmnas_dsl.datasets.planted import make_planted

        return make_planted()
    path = Path(spec)
    if path.exists():
        return load_bank(path)
    raise BankError(
        f"unknown data '{spec}': give a registered name ({', '.join(NAMES)}; "
        "mfeat:VIEW,VIEW selects views) or the path of a feature bank (.npz)"
    )
