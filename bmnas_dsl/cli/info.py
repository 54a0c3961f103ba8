"""`bmnas info`: inputs, cells and parameter counts of a valid genotype."""

from __future__ import annotations

import argparse
import json

from bmnas_dsl.cli.common import EXIT_INVALID, EXIT_OK, Subparsers, load_valid
from bmnas_dsl.passes.describe import describe, render_text


def add_parser(subparsers: Subparsers) -> None:
    info = subparsers.add_parser("info", help="inputs, cells and parameter counts")
    info.add_argument("file", metavar="FILE")
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
