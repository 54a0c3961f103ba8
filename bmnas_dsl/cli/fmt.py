"""`bmnas fmt`: print, check or rewrite .bmg files in canonical form."""

from __future__ import annotations

import argparse
import sys

from bmnas_dsl.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    Subparsers,
    add_command,
    print_diagnostics,
    read_text,
)
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.lang.formatter import format_file
from bmnas_dsl.passes.pipeline import analyse_text


def add_parser(subparsers: Subparsers) -> None:
    fmt = add_command(
        subparsers,
        "fmt",
        "print .bmg files in canonical form",
        "The canonical layout (order, spacing, comments kept) on stdout, or checked "
        "(--check) or rewritten atomically (--write). A file with errors is left as it "
        "is and its errors printed.",
    )
    fmt.add_argument("files", nargs="+", metavar="FILE", help=".bmg files")
    mode = fmt.add_mutually_exclusive_group()
    mode.add_argument(
        "--check", action="store_true", help="exit 1 if a file is not canonical"
    )
    mode.add_argument("--write", action="store_true", help="rewrite files in place")
    fmt.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Every file is tried: one that cannot be read or parsed does not stop the others.
    status = EXIT_OK
    for path in args.files:
        if not _format(path, args):
            status = EXIT_INVALID
    return status


def _format(path: str, args: argparse.Namespace) -> bool:
    """Whether `path` is fine: readable, parsed, and canonical where --check asks."""
    text = read_text(path)
    if text is None:
        return False
    result = analyse_text(text, path)
    if result.tree is None:  # formatting needs only a parse, not a valid model
        print_diagnostics(result)
        return False
    formatted = format_file(result.tree)
    if args.check:
        if formatted != text:
            print(f"would reformat {path}", file=sys.stderr)
            return False
    elif args.write:
        if formatted != text:
            write_atomic(path, formatted)
            print(f"reformatted {path}")
    else:
        sys.stdout.write(formatted)
    return True
