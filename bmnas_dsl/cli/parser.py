"""The `bmnas` argument parser: one subparser per command module, in `--help` order."""

from __future__ import annotations

import argparse

from bmnas_dsl.cli import (
    check,
    compile,
    data,
    export,
    extract,
    fmt,
    import_genotype,
    infer,
    info,
    ir,
    report,
    search,
    train,
    viz,
)
from bmnas_dsl.version import __version__

# Each module's add_parser defines its arguments and sets `run`, its handler.
COMMANDS = (
    check,
    fmt,
    import_genotype,
    ir,
    info,
    compile,
    export,
    infer,
    data,
    extract,
    train,
    report,
    search,
    viz,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bmnas",
        description="BM-NAS multimodal fusion search, built like a compiler.",
    )
    parser.add_argument("--version", action="version", version=f"bmnas {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        command.add_parser(subparsers)
    # Each command's own parser, for its usage line in errors found after parsing.
    for sub in subparsers.choices.values():
        sub.set_defaults(command_parser=sub)
    return parser
