"""`bmnas viz`: the argparse wiring; the pictures are drawn by `bmnas_dsl.viz.picture`.
Imports nothing heavy at module level, because `bmnas_dsl.cli.parser` builds every
subparser on each call (front-end commands never import numpy or torch, and matplotlib
imports numpy)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bmnas_dsl.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    Subparsers,
    add_command,
    load_valid,
)
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
    viz = add_command(
        subparsers,
        "viz",
        "draw a genotype (SVG, PNG, DOT), or a search or training run's curves",
        "A .bmg file: its pruned network, as the paper's Fig. 9. A search run "
        "directory (bmnas search --run-dir): the validation metric, the losses and "
        "the architecture weights' convergence per epoch, and heatmaps of the kept "
        "epoch's alpha, beta and gamma. A training run directory (bmnas train -o): "
        "the training loss and, with --holdout val, the validation metric per epoch. "
        "The format follows the suffix of -o: .svg, .png, or .dot (Graphviz text, "
        "genotypes only). docs/viz.md.",
    )
    viz.add_argument(
        "input",
        metavar="FILE|RUN_DIR",
        help="a .bmg file, a search run directory or a training run directory",
    )
    viz.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT.{svg,png,dot}",
        help="output file; its suffix picks the format (written atomically)",
    )
    viz.add_argument(
        "--dpi",
        type=_dpi,
        default=150,
        metavar="N",
        help=f"PNG resolution, {MIN_DPI} to {MAX_DPI} (default: 150)",
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
