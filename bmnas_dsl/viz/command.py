"""`bmnas viz`: the argparse wiring. Imports nothing heavy at module level, because
`bmnas_dsl.cli` builds every subparser on each call (front-end commands never import
numpy or torch, and matplotlib imports numpy)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

FORMATS = ("svg", "png", "dot")
EXIT_OK, EXIT_INVALID = 0, 1


def _dpi(text: str) -> int:
    value = int(text)
    if not 10 <= value <= 1200:
        raise argparse.ArgumentTypeError("must be between 10 and 1200")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    viz = sub.add_parser(
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
    viz.set_defaults(run=cmd_viz)


def _error(message: str) -> int:
    print(f"bmnas viz: error: {message}", file=sys.stderr)
    return EXIT_INVALID


def cmd_viz(args: argparse.Namespace) -> int:
    from bmnas_dsl.fileio import write_atomic
    from bmnas_dsl.viz import VizError

    fmt = Path(args.output).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        return _error(
            f"{args.output}: unknown output format; use a .svg, .png or .dot file name"
        )
    source = Path(args.input)
    if not source.exists():
        return _error(f"{source}: no such file or directory")
    try:
        if source.is_dir():
            if fmt == "dot":
                return _error(
                    f"{source}: DOT output is for genotype files; "
                    "draw a run directory as .svg or .png"
                )
            data = _run_picture(source, fmt, args.dpi)
        else:
            picture = _genotype_picture(source, fmt, args.dpi)
            if picture is None:
                return EXIT_INVALID
            data = picture
    except VizError as exc:
        return _error(str(exc))
    # Rendered in memory first: a failure above never touches an existing output file.
    write_atomic(args.output, data)
    print(f"wrote {args.output}")
    return EXIT_OK


def _genotype_picture(path: Path, fmt: str, dpi: int) -> bytes | None:
    """The picture's bytes, or None after printing the file's errors."""
    from bmnas_dsl.cli import _load_valid
    from bmnas_dsl.viz.diagram import diagram_of

    result = _load_valid(str(path))
    if result is None:
        return None
    diagram = diagram_of(result.pruned)
    if fmt == "dot":
        from bmnas_dsl.viz.dot import render_dot

        return render_dot(diagram).encode("utf-8")
    _use_agg()
    from bmnas_dsl.viz.draw import draw_layout, render
    from bmnas_dsl.viz.layout import layout

    return render(draw_layout(layout(diagram)), fmt, dpi)


def _run_picture(path: Path, fmt: str, dpi: int) -> bytes:
    from bmnas_dsl.viz.runlog import read_run

    run = read_run(path)  # checks the whole log before matplotlib is even imported
    _use_agg()
    from bmnas_dsl.viz.curves import draw_run
    from bmnas_dsl.viz.draw import render

    return render(draw_run(run), fmt, dpi)


def _use_agg() -> None:
    import matplotlib

    matplotlib.use("Agg")  # a command line never needs a window or a GUI toolkit
