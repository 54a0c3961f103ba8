"""`bmnas viz`: the argparse wiring. Imports nothing heavy at module level, because
`bmnas_dsl.cli.main` builds every subparser on each call (front-end commands never import
numpy or torch, and matplotlib imports numpy)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

FORMATS = ("svg", "png", "dot")
EXIT_OK, EXIT_INVALID = 0, 1
MIN_DPI, MAX_DPI = 10, 1200
# Limits that keep matplotlib from running for minutes or filling the memory (a valid
# genotype file may hold thousands of cells): parts of one SVG or PNG genotype picture
# (about 10 s to draw at the limit; DOT text has none), and pixels of one PNG.
MAX_PARTS = 1000  # cells, steps and features together
MAX_PIXELS = 100_000_000


def _dpi(text: str) -> int:
    value = int(text)
    if not MIN_DPI <= value <= MAX_DPI:
        raise argparse.ArgumentTypeError(f"must be between {MIN_DPI} and {MAX_DPI}")
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
    from bmnas_dsl.cli.main import _load_valid
    from bmnas_dsl.viz.diagram import diagram_of

    result = _load_valid(str(path))
    if result is None:
        return None
    diagram = diagram_of(result.pruned)
    if fmt == "dot":
        from bmnas_dsl.viz.dot import render_dot

        return render_dot(diagram).encode("utf-8")
    parts = (
        len(diagram.cells)
        + sum(len(c.steps) for c in diagram.cells)
        + sum(len(m.features) for m in diagram.modalities)
    )
    if parts > MAX_PARTS:
        from bmnas_dsl.viz import VizError

        raise VizError(
            f"{path}: too large to draw as {fmt.upper()}: {parts:,} cells, steps and "
            f"features (at most {MAX_PARTS:,}); write a .dot file instead"
        )
    _use_agg()
    from bmnas_dsl.viz.draw import draw_layout, render
    from bmnas_dsl.viz.layout import layout

    picture = layout(diagram)
    _check_pixels(picture.width, picture.height, fmt, dpi)  # before the slow part
    return render(draw_layout(picture), fmt, dpi)


def _run_picture(path: Path, fmt: str, dpi: int) -> bytes:
    from bmnas_dsl.viz.runlog import read_run

    run = read_run(path)  # checks the whole log before matplotlib is even imported
    _use_agg()
    from bmnas_dsl.viz.curves import draw_run
    from bmnas_dsl.viz.draw import render

    figure = draw_run(run)
    _check_pixels(*figure.get_size_inches(), fmt, dpi)
    return render(figure, fmt, dpi)


def _check_pixels(width: float, height: float, fmt: str, dpi: int) -> None:
    """VizError for a PNG (of this size in inches) over MAX_PIXELS: Agg would need
    gigabytes of memory, or fail."""
    from bmnas_dsl.viz import VizError

    if fmt != "png":
        return

    def pixels(dots: int) -> tuple[int, int]:
        return math.ceil(width * dots), math.ceil(height * dots)

    wide, high = pixels(dpi)
    if wide * high <= MAX_PIXELS:
        return
    fit = int(dpi * math.sqrt(MAX_PIXELS / (wide * high)))
    while fit >= MIN_DPI and math.prod(pixels(fit)) > MAX_PIXELS:
        fit -= 1
    lower = f"use --dpi {fit} or less, or " if fit >= MIN_DPI else ""
    raise VizError(
        f"picture too large for PNG at {dpi} dpi ({wide:,} x {high:,} pixels, at most "
        f"{MAX_PIXELS:,} in all); {lower}write a .svg file"
    )


def _use_agg() -> None:
    import matplotlib

    matplotlib.use("Agg")  # a command line never needs a window or a GUI toolkit
