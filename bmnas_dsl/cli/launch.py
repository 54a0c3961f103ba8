"""How `search` and `train` take part in a torchrun job (docs/distributed.md): the world
comes from torchrun's environment, and a job torchrun restarts (`--max-restarts`)
continues its run instead of refusing the directory the first attempt started."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

from bmnas_dsl.parallel.world import World
from bmnas_dsl.runs.layout import SETTINGS

Settings = TypeVar("Settings")


def continues_after_restart(world: World, run_dir: str | Path) -> bool:
    """Whether this command, restarted by torchrun, resumes the run in `run_dir`
    (one the first attempt started: its settings exist)."""
    return world.restarts > 0 and (Path(run_dir) / SETTINGS).is_file()


def machine_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    """A resumed run's settings with this machine's --threads and --device when given
    (they are the machine's, not the run's)."""
    given = {k: getattr(args, k) for k in ("threads", "device")}
    return replace(settings, **{k: v for k, v in given.items() if v is not None})
