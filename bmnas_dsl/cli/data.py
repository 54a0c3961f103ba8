"""`bmnas data`: prepare, validate and describe a data set; check a genotype against it."""

from __future__ import annotations

import argparse
import json

from bmnas_dsl.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    Subparsers,
    UsageError,
    add_command,
    load_valid,
)
from bmnas_dsl.errors import BankError
from bmnas_dsl.passes.describe import describe


def add_parser(subparsers: Subparsers) -> None:
    data = add_command(
        subparsers,
        "data",
        "prepare, validate and describe a data set",
        "Prepares a registered data set on first use (cached), validates a feature "
        "bank (docs/data.md), and prints its modalities, features, splits, classes "
        "and content hash; with --genotype, whether that genotype's inputs are in it. "
        "`bmnas data convert IN OUT` writes the bank IN (any DATA) as OUT: a bank "
        "directory (format 2, memory-mapped), or a version 1 .npz when OUT ends in "
        ".npz.",
    )
    data.add_argument(
        "data",
        metavar="DATA",
        help="mfeat, mfeat:VIEW,VIEW,..., planted, a bank directory or .npz; or "
        "`convert`",
    )
    data.add_argument(
        "paths",
        nargs="*",
        metavar="IN OUT",
        help="with `convert`: the bank and where to write it",
    )
    data.add_argument(
        "--dtype",
        choices=["float32", "float16"],
        help="with `convert` to a directory: the features' dtype (default: the bank's "
        "own; float32 for an .npz)",
    )
    data.add_argument(
        "--overwrite", action="store_true", help="with `convert`: replace OUT"
    )
    data.add_argument(
        "--genotype", metavar="FILE", help="check its inputs against the bank"
    )
    data.add_argument("--json", action="store_true", help="one JSON object")
    data.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Heavy (numpy; torch to prepare mfeat): imported only when this command runs.
    from bmnas_dsl.data.bank import genotype_problems
    from bmnas_dsl.data.describe import render_text, summary
    from bmnas_dsl.data.resolve import resolve_data

    if args.data == "convert":
        return _convert(args)
    if args.paths or args.dtype or args.overwrite:
        raise UsageError("IN OUT, --dtype and --overwrite go with `bmnas data convert`")
    bank = resolve_data(args.data)
    facts = summary(bank)
    if args.genotype:
        result = load_valid(args.genotype)
        if result is None:
            return EXIT_INVALID
        inputs = [(i["name"], i["shape"]) for i in describe(result.pruned)["inputs"]]
        found = genotype_problems(bank, inputs)
        if found:
            raise BankError(f"{args.genotype}: " + "; ".join(found))
    if args.json:
        print(json.dumps(facts, indent=2))
        return EXIT_OK
    print(render_text(args.data, bank))
    if args.genotype:
        print(f"{args.genotype}: every input is in the bank with the declared shape")
    return EXIT_OK


def _convert(args: argparse.Namespace) -> int:
    from bmnas_dsl.data.convert import convert_bank
    from bmnas_dsl.data.resolve import resolve_data

    if len(args.paths) != 2:
        raise UsageError(
            "bmnas data convert IN OUT: give the bank and where to write it"
        )
    source, out = args.paths
    written = convert_bank(
        resolve_data(source), out, dtype=args.dtype, overwrite=args.overwrite
    )
    print(f"wrote {written}")
    return EXIT_OK
