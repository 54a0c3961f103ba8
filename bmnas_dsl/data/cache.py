"""Where prepared data sets are kept between runs (mfeat's views with their backbones)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """Where prepared data sets are kept: $BMNAS_DATA_DIR, else ~/.cache/bmnas/data."""
    if os.environ.get("BMNAS_DATA_DIR"):
        return Path(os.environ["BMNAS_DATA_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bmnas" / "data"
