"""`bmnas viz`: the argparse wiring; the pictures are drawn by `bmnas_dsl.viz.picture`.
Imports nothing heavy at module level, because `bmnas_dsl.cli.parser` builds every
subparser on each call (front-end commands never import numpy or torch, and matplotlib
imports numpy)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bmnas_dsl.cli.common import EXIT_INVALID, EXIT_OK, Subparsers, load_valid
from bmnas_dsl.errors import VizError
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.viz.picture import (
    MAX_DPI,
    MIN_DPI,
    genotype_picture,
    output_format,
    run_picture,
)


def _dpi(text: str) -> int:
    value = int(text)
    if not MIN_DPI <= value <= MAX_DPI:
        raise argparse.ArgumentTypeError(f"must be between {MIN_DPI} and {MAX_DPI}")
    return value


def add_parser(subparsers: Subparsers) -> None:
    viz = subparsers.add_parser(
        "viz",
        help="draw a genotype (SVG, PNG, DOT) or a search run's curves",
        description=(
            "Draw the pruned network of a .bmg genotype (as the paper's Fig. 9), or the "
            "validation curves and final alpha/beta/gamma of a search run directory. "
            "The format follows the suffix of -o: .svg, .png, or .dot (Graphviz text, "
            "genotypes only)."
        ),
    )
    viz.add_argument("input", metavar="FILE|RUN_DIR", help="a .bmg file or a run dir")
    viz.add_argument(
        "-o", "--output", required=True, metavar="OUT.{svg,png,dot}", help="output file"
    )
    viz.add_argument(
        "--dpi", type=_dpi, default=150, help="PNG resolution (default: 150)"
    )
    viz.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    fmt = output_format(args.output)
    source = Path(args.input)
    if not source.exists():
        raise VizError(f"{source}: no such file or directory")
    if source.is_dir():
        data = run_picture(source, fmt, args.dpi)
    else:
        result = load_valid(str(source))
        if result is None:
            return EXIT_INVALID
        data = genotype_picture(result.pruned, source, fmt, args.dpi)
    # Rendered in memory first: a failure above never touches an existing output file.
    write_atomic(args.output, data)
    print(f"wrote {args.output}")
    return EXIT_OK
