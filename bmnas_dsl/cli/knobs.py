"""Options whose default comes from a settings class and that `--resume` must compare.

argparse cannot tell "given at its default" from "not given", and `--resume` needs
exactly that: a flag not given is taken from the run, a flag given must agree with it.
So a knob is stored as None by argparse, its real default kept aside (and shown in
`--help`); `fill_defaults` records which knobs were given, then fills in the rest.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from bmnas_dsl.runs.checks import DEFAULT_THREADS, PRECISIONS

_DEFAULTS = "knob_defaults"  # parser default: {dest: the default value}


def add_knob(
    parser: argparse.ArgumentParser,
    *flags: str,
    default: Any,
    help: str,
    **options: Any,
) -> argparse.Action:
    """An option like `parser.add_argument(*flags, **options)` whose default is
    `default`, shown in its help as `(default: ...)`."""
    if "choices" not in options and "metavar" not in options:
        kind = options.get("type")
        options["metavar"] = {int: "N", float: "X"}.get(kind, "VALUE")
    action = parser.add_argument(
        *flags, default=None, help=f"{help} (default: {shown(default)})", **options
    )
    defaults = parser.get_default(_DEFAULTS)
    if defaults is None:
        defaults = {}
        parser.set_defaults(**{_DEFAULTS: defaults})
    defaults[action.dest] = default
    return action


def shown(value: Any) -> str:
    """A default as a user would type it (argparse's %(default)s prints reprs)."""
    if value is None:
        return "none"
    if isinstance(value, tuple | list):
        return " ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def fill_defaults(args: argparse.Namespace) -> None:
    """Record the knobs given on the command line in `args.given`, then set every
    knob not given to its default."""
    defaults: dict[str, Any] = getattr(args, _DEFAULTS, None) or {}
    args.given = {dest for dest in defaults if getattr(args, dest, None) is not None}
    for dest, value in defaults.items():
        if dest not in args.given:
            setattr(args, dest, value)


def conflicts(
    args: argparse.Namespace,
    recorded: dict[str, Any],
    flag_of: Callable[[str], str],
) -> list[str]:
    """`--seed 5 (the run has 0)` for each given knob whose value differs from the
    run's `recorded[dest]` (dests absent from `recorded` are not settings of the run)."""
    found = []
    for dest in sorted(args.given):
        if dest in recorded and _normal(getattr(args, dest)) != _normal(recorded[dest]):
            found.append(
                f"{flag_of(dest)} {shown(getattr(args, dest))} "
                f"(the run has {shown(recorded[dest])})"
            )
    return found


def _normal(value: Any) -> Any:
    # JSON gives lists where the settings hold tuples; ints and floats compare as numbers.
    return tuple(value) if isinstance(value, list | tuple) else value


def flag_name(dest: str) -> str:
    """The option spelled from its dest: `batch_size` -> `--batch-size`."""
    return "--" + dest.replace("_", "-")


def add_threads(parser: argparse.ArgumentParser) -> None:
    """`--threads`: a property of the machine, not of the run (a resumed run may use
    another count)."""
    parser.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help=f"torch CPU threads (default: {DEFAULT_THREADS}; more collapse when "
        "other processes hold the cores: docs/decisions.md, 'Threads')",
    )


def add_precision(parser: argparse.ArgumentParser, default: str) -> None:
    """`--precision` of search and train: a setting of the run (its results depend
    on it), unlike --threads and --device."""
    add_knob(
        parser,
        "--precision",
        choices=PRECISIONS,
        default=default,
        help="autocast precision of the forward pass and the loss; weights and "
        "optimiser states stay float32 (docs/decisions.md, 'Precision')",
    )


def add_device(parser: argparse.ArgumentParser) -> None:
    """`--device` of search and train: like --threads, the machine's (runs/checks.py,
    MACHINE_SETTINGS)."""
    parser.add_argument(
        "--device",
        metavar="D",
        help="auto (default: CUDA when a GPU really runs, else the CPU), cpu, cuda "
        "(under torchrun: the GPU of each local rank) or cuda:N; the machine's "
        "choice, --resume may use another (docs/decisions.md, 'Devices')",
    )
