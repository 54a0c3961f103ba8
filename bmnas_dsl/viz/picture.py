"""The bytes of a `bmnas viz` picture: a genotype's pruned network or a search run's
curves, within size limits. Imports nothing heavy at module level, because the command
line imports this module to build its parser (front-end commands never import numpy or
torch, and matplotlib imports numpy)."""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx

from bmnas_dsl.errors import VizError

FORMATS = ("svg", "png", "dot")
MIN_DPI, MAX_DPI = 10, 1200
# Limits that keep matplotlib from running for minutes or filling the memory (a valid
# genotype file may hold thousands of cells): parts of one SVG or PNG genotype picture
# (about 10 s to draw at the limit; DOT text has none), and pixels of one PNG.
MAX_PARTS = 1000  # cells, steps and features together
MAX_PIXELS = 100_000_000


def output_format(output: str) -> str:
    """The picture format that the suffix of `output` asks for; VizError if none."""
    fmt = Path(output).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise VizError(
            f"{output}: unknown output format; use a .svg, .png or .dot file name"
        )
    return fmt


def genotype_picture(pruned: nx.MultiDiGraph, path: Path, fmt: str, dpi: int) -> bytes:
    """The picture of a valid genotype's pruned network (`path` names it in errors)."""
    from bmnas_dsl.viz.diagram import diagram_of

    diagram = diagram_of(pruned)
    if fmt == "dot":
        from bmnas_dsl.viz.dot import render_dot

        return render_dot(diagram).encode("utf-8")
    parts = (
        len(diagram.cells)
        + sum(len(c.steps) for c in diagram.cells)
        + sum(len(m.features) for m in diagram.modalities)
    )
    if parts > MAX_PARTS:
        raise VizError(
            f"{path}: too large to draw as {fmt.upper()}: {parts:,} cells, steps and "
            f"features (at most {MAX_PARTS:,}); write a .dot file instead"
        )
    _use_agg()
    from bmnas_dsl.viz.draw import draw_layout, render
    from bmnas_dsl.viz.layout import layout

    picture = layout(diagram)
    check_pixels(picture.width, picture.height, fmt, dpi)  # before the slow part
    return render(draw_layout(picture), fmt, dpi)


def run_picture(path: Path, fmt: str, dpi: int) -> bytes:
    """The validation curves and final alpha/beta/gamma of the search run in `path`."""
    if fmt == "dot":
        raise VizError(
            f"{path}: DOT output is for genotype files; "
            "draw a run directory as .svg or .png"
        )
    from bmnas_dsl.viz.runlog import read_run

    run = read_run(path)  # checks the whole log before matplotlib is even imported
    _use_agg()
    from bmnas_dsl.viz.curves import draw_run
    from bmnas_dsl.viz.draw import render

    figure = draw_run(run)
    check_pixels(*figure.get_size_inches(), fmt, dpi)
    return render(figure, fmt, dpi)


def check_pixels(width: float, height: float, fmt: str, dpi: int) -> None:
    """VizError for a PNG (of this size in inches) over MAX_PIXELS: Agg would need
    gigabytes of memory, or fail."""
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
