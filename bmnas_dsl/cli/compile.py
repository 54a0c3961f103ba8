"""`bmnas compile`: the standalone PyTorch module of a valid genotype."""

from __future__ import annotations

import argparse
import sys

from bmnas_dsl.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    Subparsers,
    add_command,
    load_valid,
)
from bmnas_dsl.fileio import write_atomic


def add_parser(subparsers: Subparsers) -> None:
    compile_ = add_command(
        subparsers,
        "compile",
        "generate a standalone PyTorch module",
        "One Python file that needs only torch: `Model`, its inputs' names and "
        "shapes, and the layers it uses (the generated-module contract of "
        "shared/spec/cli.md). Written atomically; nothing is written for a file with "
        "errors.",
    )
    compile_.add_argument("file", metavar="FILE", help="a .bmg file")
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
