"""`bmnas check`: parse and validate .bmg files, print every diagnostic."""

from __future__ import annotations

import argparse
import sys

from bmnas_dsl.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    Subparsers,
    add_command,
    print_diagnostics,
)
from bmnas_dsl.passes.pipeline import analyse_file


def add_parser(subparsers: Subparsers) -> None:
    check = add_command(
        subparsers,
        "check",
        "parse and validate .bmg files",
        "Every error and warning, located (FILE:LINE:COLUMN, code, message, the line "
        "and a caret; docs/diagnostics in shared/spec/bmg-language.md). Exit 1 when a "
        "file has an error; warnings alone exit 0.",
    )
    check.add_argument("files", nargs="+", metavar="FILE", help=".bmg files")
    check.add_argument("-q", "--quiet", action="store_true", help="print only problems")
    check.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    status = EXIT_OK
    for path in args.files:
        result = analyse_file(path)
        print_diagnostics(result)
        errors = sum(d.is_error for d in result.diagnostics)
        warnings = len(result.diagnostics) - errors
        if errors:
            status = EXIT_INVALID
            print(f"{path}: {errors} error(s), {warnings} warning(s)", file=sys.stderr)
        elif not args.quiet:
            print(f"{path}: ok" + (f" ({warnings} warning(s))" if warnings else ""))
    return status
