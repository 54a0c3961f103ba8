"""Matplotlib rendering of a layout (and of any figure) to SVG or PNG bytes.

Figures are made with `Figure()` and saved with `savefig`, never through pyplot, so the
process-wide backend does not matter and no window can open. Only matplotlib's own Agg
and SVG renderers are used, so a plain `pip install` draws; no
Graphviz or other system binary. Output is deterministic: the SVG ids are salted with a
constant, and neither format records a date or the matplotlib version.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path as MplPath

from bmnas_dsl.viz.shapes import FONT, PROPORTIONAL, Layout

if TYPE_CHECKING:
    from bmnas_dsl.viz.shapes import Box, Edge, Text

DPI = 150
INK = "#1f2933"
UPPER = "#243b53"  # upper level: dark, thick, orthogonal
INNER = "#1c7ed6"  # inner: blue, thin, curved
OP_FILL = {
    "Sum": "#e7f5ff",
    "Attention": "#fff0f6",
    "LinearGLU": "#ebfbee",
    "ConcatFC": "#fff4e6",
}
BOX_STYLE = {  # role -> (face, edge, line width, corner radius)
    "modality": ("#f1f3f5", "#adb5bd", 0.9, 0.06),
    "feature": ("#ffffff", "#868e96", 0.9, 0.04),
    "cell": ("#fcfcf7", "#495057", 1.1, 0.06),
    "step": ("#f1f3f5", "#495057", 0.9, 0.04),
    "out": ("#f3f0ff", "#5f3dc4", 0.9, 0.04),
    "head": ("#f8f9fa", "#495057", 1.1, 0.06),
}
TEXT_STYLE = {  # role -> (colour, bold)
    "title": (INK, True),
    "modality": (INK, True),
    "feature": (INK, True),
    "shape": ("#5c677d", False),
    "cell": (INK, True),
    "step": (INK, True),
    "op": ("#343a40", False),
    "port": (INNER, True),
    "out": ("#5f3dc4", True),
    "zero": ("#868e96", True),
    "head_title": (INK, True),
    "note": ("#868e96", False),
}
EDGE_STYLE = {  # kind -> (colour, width, arrow size)
    "upper": (UPPER, 1.8, 9.0),
    "head": (UPPER, 1.8, 9.0),
    "inner": (INNER, 1.0, 7.0),
    "residual": ("#868e96", 1.0, 7.0),
}
RC = {
    "svg.fonttype": "none",  # text stays text: searchable, and no embedded glyphs
    "svg.hashsalt": "bmnas",  # ids do not depend on a random salt
    "font.family": "DejaVu Sans",  # shipped with matplotlib: same metrics everywhere
    "font.monospace": ["DejaVu Sans Mono"],
    "path.simplify": False,
}
FORMATS = ("svg", "png")


def render(figure: Figure, fmt: str, dpi: int = DPI) -> bytes:
    """The figure as SVG or PNG bytes, without dates or version stamps."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown image format {fmt!r}")
    # No date, and no matplotlib version: the bytes depend on the picture only.
    if fmt == "svg":
        metadata = {"Date": None, "Creator": "bmnas viz"}
    else:
        metadata = {"Software": "bmnas viz"}
    buffer = io.BytesIO()
    with matplotlib.rc_context(RC):
        figure.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return buffer.getvalue()


def draw_layout(layout: Layout) -> Figure:
    """A figure of exactly the layout's size, one axis unit per inch, y down."""
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(layout.width, layout.height))
        axes = figure.add_axes((0, 0, 1, 1))
        axes.set_xlim(0, layout.width)
        axes.set_ylim(layout.height, 0)
        axes.set_axis_off()
        for box in layout.boxes:
            _box(axes, box)
        # Edges above the boxes they connect, inner ones above upper ones: an inner curve
        # is short and must stay visible where it meets a port.
        for edge in sorted(layout.edges, key=lambda e: e.kind not in ("upper", "head")):
            _edge(axes, edge)
        for x, y in layout.dots:
            axes.add_patch(Circle((x, y), 0.035, color=UPPER, zorder=2))
        for text in layout.texts:
            _text(axes, text)
    return figure


def _box(axes: Axes, box: Box) -> None:
    if box.role == "port":
        r = box.w / 2
        axes.add_patch(
            Circle(
                (box.x + r, box.y + r),
                r,
                facecolor="#ffffff",
                edgecolor=INNER,
                linewidth=1.1,
                zorder=4,
            )
        )
        return
    face, edge, width, radius = BOX_STYLE[box.role]
    if box.role == "step":
        face = OP_FILL.get(box.key, face)
    axes.add_patch(
        FancyBboxPatch(
            (box.x, box.y),
            box.w,
            box.h,
            boxstyle=f"round,pad=0,rounding_size={radius}",
            facecolor=face,
            edgecolor=edge,
            linewidth=width,
            zorder={"modality": 0, "cell": 0, "head": 1}.get(box.role, 2),
        )
    )


def _edge(axes: Axes, edge: Edge) -> None:
    colour, width, arrow = EDGE_STYLE[edge.kind]
    if edge.curved:
        codes = [MplPath.MOVETO] + [MplPath.CURVE4] * (len(edge.points) - 1)
    else:
        codes = [MplPath.MOVETO] + [MplPath.LINETO] * (len(edge.points) - 1)
    axes.add_patch(
        FancyArrowPatch(
            path=MplPath(edge.points, codes),
            arrowstyle=f"-|>,head_length={arrow / 20:.2f},head_width={arrow / 36:.2f}",
            mutation_scale=10,
            color=colour,
            linewidth=width,
            joinstyle="round",
            capstyle="round",
            linestyle=(0, (3, 2)) if edge.kind == "residual" else "solid",
            zorder=1.5 if edge.kind in ("upper", "head") else 3,
        )
    )


def _text(axes: Axes, text: Text) -> None:
    colour, bold = TEXT_STYLE.get(text.role, (INK, False))
    family = "DejaVu Sans" if text.role in PROPORTIONAL else "monospace"
    axes.text(
        text.x,
        text.y,
        text.text,
        ha=text.ha,
        va="center",
        fontsize=FONT[text.role],
        family=family,
        fontweight="bold" if bold else "normal",
        color=colour,
        zorder=5,
    )
