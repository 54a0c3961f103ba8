"""Checks of run settings, shared by `search` and `train` (torch-free: the CLI uses them
before anything heavy is imported). Each returns a message naming the flag, or None.

Settings also come from a run directory's settings.json, which may have been edited by
hand, so types are checked too: `"epochs": "5"` must be a clear error, not a crash.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TypeVar

SEED_LIMIT = 2**63  # torch.manual_seed takes a 64-bit integer


def integer(
    flag: str, value: object, minimum: int, maximum: int = SEED_LIMIT - 1
) -> str | None:
    if type(value) is not int:
        return f"{flag} must be an integer, not {value!r}"
    if not minimum <= value <= maximum:
        return f"{flag} must be between {minimum} and {maximum}, not {value}"
    return None


def number(
    flag: str,
    value: object,
    minimum: float,
    *,
    positive: bool = False,
    below: float = math.inf,
) -> str | None:
    """A finite number >= minimum (> minimum when `positive`) and < `below`."""
    if type(value) not in (int, float) or not math.isfinite(value):
        return f"{flag} must be a finite number, not {value!r}"
    if (value <= minimum if positive else value < minimum) or value >= below:
        low = f"> {minimum:g}" if positive else f">= {minimum:g}"
        high = f" and < {below:g}" if below != math.inf else ""
        return f"{flag} must be {low}{high}, not {value:g}"
    return None


def choice(flag: str, value: object, choices: Iterable[str]) -> str | None:
    choices = tuple(choices)
    if value not in choices:
        return f"{flag} must be one of {', '.join(choices)}, not {value!r}"
    return None


# torch's intra-op threads when --threads is not given (nn/threads.py says why one).
DEFAULT_THREADS = 1


def optional_threads(value: object) -> str | None:
    return None if value is None else integer("--threads", value, 1, 4096)


Settings = TypeVar("Settings")

# Settings of the machine a run is on, not of the run: a resumed run may change them,
# and they are not knobs of a searched genotype's result (its meta leaves them out).
MACHINE_SETTINGS = ("threads", "device")
DEVICE_CHOICES = "auto, cpu, cuda or cuda:N"


def device(value: object) -> str | None:
    """--device: auto, cpu, cuda (one GPU per torchrun local rank) or cuda:N."""
    if isinstance(value, str) and (
        value in ("auto", "cpu", "cuda")
        or (value.startswith("cuda:") and value[5:].isdigit())
    ):
        return None
    return f"--device must be {DEVICE_CHOICES}, not {value!r}"


PRECISIONS = ("fp32", "bf16", "fp16")  # nn/precision.py
# `bmnas train --compile`: off, or a torch.compile mode (nn/compiling.py).
COMPILE_MODES = ("off", "default", "reduce-overhead", "max-autotune-no-cudagraphs")


def without_machine_settings(settings: Settings) -> Settings:
    """Settings as a resume compares them: a dict without MACHINE_SETTINGS (anything
    else, e.g. a hash or a missing entry, as it is)."""
    if not isinstance(settings, dict):
        return settings
    return {k: v for k, v in settings.items() if k not in MACHINE_SETTINGS}  # type: ignore[return-value]


def collect(*found: str | None) -> list[str]:
    return [message for message in found if message]
