"""`bmnas compile`: the standalone PyTorch module of a valid genotype."""

from __future__ import annotations

import argparse
import sys

from bmnas_dsl.cli.common import EXIT_INVALID, EXIT_OK, Subparsers, load_valid
from bmnas_dsl.fileio import write_atomic


def add_parser(subparsers: Subparsers) -> None:
    compile_ = subparsers.add_parser(
        "compile", help="generate a standalone PyTorch module"
    )
    compile_.add_argument("file", metavar="FILE")
    compile_.add_argument(
        "-o", "--output", required=True, metavar="MODEL.py", help="output file, or -"
    )
    compile_.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Imported here: backend.compile imports jinja2 (start-up time of every command).
    from bmnas_dsl.backend.compile import module_source

    result = load_valid(args.file)
    if result is None:
        return EXIT_INVALID
    module = module_source(result)
    if args.output == "-":
        sys.stdout.write(module)
    else:
        write_atomic(args.output, module)
        print(f"wrote {args.output}")
    return EXIT_OK
