"""`bmnas info`: inputs, cells and parameter counts of a valid genotype."""

from __future__ import annotations

import argparse
import json

from bmnas_dsl.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    Subparsers,
    add_command,
    load_valid,
)
from bmnas_dsl.passes.describe import describe, render_text


def add_parser(subparsers: Subparsers) -> None:
    info = add_command(
        subparsers,
        "info",
        "inputs, cells and parameter counts",
        "What the network reads, its cells and steps, and its parameter count per "
        "part (reshapes, cells, classifier), computed without torch.",
    )
    info.add_argument("file", metavar="FILE", help="a .bmg file")
    info.add_argument("--json", action="store_true", help="one JSON object")
    info.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    result = load_valid(args.file)
    if result is None:
        return EXIT_INVALID
    info = describe(result.pruned)
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(render_text(info))
    return EXIT_OK
