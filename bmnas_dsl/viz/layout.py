"""Positions of everything in a genotype picture, in inches, y pointing down.

Pure Python (no matplotlib), so the geometry is cheap to test and independent of the
renderer. The picture reads left to right as in the paper's Fig. 9: modality groups with
their features, then the cells stacked in evaluation order (each a row of steps between
its x/y ports and its `out`, see cellbox.py), then the classifier head, a title above and
a legend below.

Upper-level edges (feature or cell -> cell input) are right-angled lines: each source has
one vertical trunk in the channel left of the cells, with a branch to every input it
feeds (a dot marks a branch point; routing.py). A cell's line first runs down a lane right
of the cells and crosses over in the gap above the first cell it feeds, so no line cuts
through a cell.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from bmnas_dsl.viz.cellbox import CellGeometry, layout_cell, moved, step_width
from bmnas_dsl.viz.diagram import Diagram, head_lines, shape_text
from bmnas_dsl.viz.routing import Trunk, branch_points, feature_shift, order_lanes
from bmnas_dsl.viz.shapes import (
    CELL_GAP,
    FEATURE_GAP,
    FEATURE_H,
    GROUP_GAP,
    GROUP_HEAD,
    LANE,
    MARGIN,
    PAD,
    PORT_R,
    Box,
    Edge,
    Layout,
    Point,
    Text,
    text_width,
)


@dataclass
class _Features:
    width: float
    height: float
    boxes: list[Box]
    texts: list[Text]
    exits: dict[str, Point]  # feature IR id -> right edge, middle


def _features_column(diagram: Diagram, x: float, y: float) -> _Features:
    widths = [
        max(text_width(f.name, "feature"), text_width(shape_text(f.shape), "shape"))
        for m in diagram.modalities
        for f in m.features
    ]
    names = [text_width(m.name, "modality") - 2 * PAD for m in diagram.modalities]
    feature_w = max([0.7, *widths, *names]) + 2 * PAD
    group_w = feature_w + 2 * PAD
    column = _Features(group_w, 0.0, [], [], {})
    for modality in diagram.modalities:
        height = GROUP_HEAD + len(modality.features) * (FEATURE_H + FEATURE_GAP) + PAD
        column.boxes.append(Box(x, y, group_w, height, "modality"))
        column.texts.append(
            Text(x + PAD, y + GROUP_HEAD / 2 + 0.02, modality.name, "modality", "left")
        )
        fy = y + GROUP_HEAD
        for feature in modality.features:
            fx, centre = x + PAD, x + PAD + feature_w / 2
            column.boxes.append(Box(fx, fy, feature_w, FEATURE_H, "feature"))
            column.texts.append(Text(centre, fy + 0.13, feature.name, "feature"))
            column.texts.append(
                Text(centre, fy + 0.3, shape_text(feature.shape), "shape")
            )
            column.exits[feature.node] = (fx + feature_w, fy + FEATURE_H / 2)
            fy += FEATURE_H + FEATURE_GAP
        y += height + GROUP_GAP
        column.height += height + GROUP_GAP
    column.height = max(column.height - GROUP_GAP, 0.0)
    return column


def _moved(column: _Features, dy: float) -> _Features:
    return _Features(
        column.width,
        column.height,
        [Box(b.x, b.y + dy, b.w, b.h, b.role, b.key) for b in column.boxes],
        [Text(t.x, t.y + dy, t.text, t.role, t.ha) for t in column.texts],
        {n: (x, y + dy) for n, (x, y) in column.exits.items()},
    )


def _title(diagram: Diagram, out: Layout) -> tuple[float, float]:
    """Title lines at the top; returns (their bottom, the width they need)."""
    lines = [(diagram.model, "title", 0.24), (diagram.subtitle(), "subtitle", 0.22)]
    if diagram.removed_note():
        lines.append((diagram.removed_note(), "note", 0.2))
    y = MARGIN
    for text, role, height in lines:
        out.texts.append(Text(MARGIN, y + height / 2, text, role, "left"))
        y += height
    return y, max(2 * MARGIN + text_width(t, r) for t, r, _ in lines)


def layout(diagram: Diagram) -> Layout:
    """Place every box, label and edge of the picture."""
    out = Layout()
    title_bottom, title_w = _title(diagram, out)
    top = title_bottom + 0.3

    features = _features_column(diagram, MARGIN, 0.0)
    step_w = step_width(diagram)
    shapes = [layout_cell(c, step_w) for c in diagram.cells]
    index = {c.node: i for i, c in enumerate(diagram.cells)}
    targets: dict[str, list[int]] = {}  # source -> the cells it feeds
    for i, cell in enumerate(diagram.cells):
        for _, source in cell.inputs:
            fed_cells = targets.setdefault(source, [])
            if not fed_cells or fed_cells[-1] != i:  # i only grows: no scan needed
                fed_cells.append(i)
    cell_sources = [s for s in targets if s in index]
    first_target = {s: targets[s][0] for s in cell_sources}

    # Cells column: a cell's gap has one crossing line per cell source it is first for.
    # (Everything here is linear, or n log n, in the cells: a valid file may hold
    # thousands of them.)
    firsts = Counter(first_target.values())
    gaps = [0.0] + [CELL_GAP + firsts[i] * LANE for i in range(1, len(shapes))]
    cells_h = sum(s.height for s in shapes) + sum(gaps)
    channel_w = max(0.6, 0.36 + (len(targets) - 1) * LANE)
    channel_left = MARGIN + features.width + 0.12
    cells_x = channel_left + channel_w + 0.12
    cells_top = top + max(0.0, (features.height - cells_h) / 2)
    placed: list[CellGeometry] = []
    gap_top: list[float] = []
    y = cells_top
    for shape, gap in zip(shapes, gaps, strict=True):
        gap_top.append(y)
        placed.append(moved(shape, cells_x, y + gap))
        y += gap + shape.height
    cells_right = max([cells_x + s.width for s in placed], default=cells_x)

    # Features column: centred on the cells, then nudged off lines it does not own.
    centred = top + max(0.0, (cells_h - features.height) / 2)
    features = _moved(features, centred)
    port_of = {
        (i, port): placed[i].ports[port]
        for i, c in enumerate(diagram.cells)
        for port, _ in c.inputs
    }
    fed: dict[str, list[float]] = {s: [] for s in targets}
    for i, c in enumerate(diagram.cells):
        for p, src in c.inputs:
            fed[src].append(port_of[(i, p)][1])
    shift = feature_shift(
        {n: xy[1] for n, xy in features.exits.items()},
        fed,
        [xy[1] for xy in port_of.values()],
    )
    if features.boxes:  # never up into the title
        features = _moved(features, max(shift, top - features.boxes[0].y))
    out.boxes += features.boxes
    out.texts += features.texts

    # Upper-level edges: one trunk per source in the left channel, and for a cell a lane
    # right of the cells down to the gap above the first cell it feeds.
    cell_sources.sort(key=lambda s: (first_target[s] - index[s], index[s]))
    right_lane = {s: cells_right + 0.2 + j * LANE for j, s in enumerate(cell_sources)}
    crossing: dict[int, list[str]] = {}  # cell -> the cell sources first feeding it
    for s in cell_sources:
        crossing.setdefault(first_target[s], []).append(s)
    gap_y: dict[str, float] = {}
    for i in range(1, len(placed)):
        mine = crossing.get(i, [])
        for j, s in enumerate(mine):
            gap_y[s] = gap_top[i] + gaps[i] * (j + 1) / (len(mine) + 1)
    trunks = [
        Trunk(
            source,
            gap_y[source] if source in index else features.exits[source][1],
            source in index,
            tuple(
                port_of[(i, p)]
                for i in cells
                for p, src in diagram.cells[i].inputs
                if src == source
            ),
        )
        for source, cells in targets.items()
    ]
    lanes = [
        channel_left + (channel_w - (len(trunks) - 1) * LANE) / 2 + j * LANE
        for j in range(len(trunks))
    ]
    ordered = order_lanes(trunks, lanes, channel_left, cells_x) if trunks else []
    for trunk, lane in zip(ordered, lanes, strict=True):
        if trunk.from_cell:
            ox, oy = placed[index[trunk.source]].out_exit
            far = right_lane[trunk.source]
            start = [(ox, oy), (far, oy), (far, trunk.entry), (lane, trunk.entry)]
            if diagram.cells[index[trunk.source]].name in diagram.output:
                out.dots.append((far, oy))  # the line splits: head, and this lane
        else:
            fx, fy = features.exits[trunk.source]
            start = [(fx, fy), (lane, fy)]
        for px, py in trunk.ports:
            out.edges.append(Edge("upper", (*start, (lane, py), (px - PORT_R, py))))
        out.dots += branch_points(trunk, lane)

    # The head: a tall box right of the cells; every output cell's `out` runs into it.
    head_x = cells_right + 0.2 + len(cell_sources) * LANE + 0.3
    head_bottom = _head(diagram, out, placed, index, head_x, top, cells_h)

    for geometry in placed:
        out.boxes += geometry.boxes
        out.texts += geometry.texts
        out.edges += geometry.edges

    body_bottom = max([b.bottom for b in out.boxes] + [head_bottom])
    width = max(max(b.right for b in out.boxes) + MARGIN, title_w)
    legend_h = _legend(out, body_bottom + 0.4, width)
    out.width, out.height = width, body_bottom + 0.4 + legend_h + MARGIN
    return out


def _head(
    diagram: Diagram,
    out: Layout,
    placed: list[CellGeometry],
    index: dict[str, int],
    x: float,
    top: float,
    cells_h: float,
) -> float:
    """The classifier head box and the edges into it; returns its bottom."""
    lines = head_lines(diagram)
    width = max(text_width(line, "head") for line in lines) + 2 * PAD + 0.1
    text_h = 0.2 * len(lines) + 0.2
    if placed:
        head_top, head_bottom = placed[0].row - 0.3, placed[-1].row + 0.3
    else:
        head_top = head_bottom = top + cells_h / 2
    if head_bottom - head_top < text_h:
        middle = (head_top + head_bottom) / 2
        head_top, head_bottom = middle - text_h / 2, middle + text_h / 2
    out.boxes.append(Box(x, head_top, width, head_bottom - head_top, "head"))
    middle = (head_top + head_bottom) / 2
    for j, line in enumerate(lines):
        out.texts.append(
            Text(
                x + width / 2,
                middle + (j - (len(lines) - 1) / 2) * 0.2,
                line,
                "head_title" if j == 0 else "head",
            )
        )
    for name in dict.fromkeys(diagram.output):
        ox, oy = placed[index[f"cell:{name}"]].out_exit
        out.edges.append(Edge("head", ((ox, oy), (x, oy))))
    return head_bottom


def _legend(out: Layout, y: float, width: float) -> float:
    """A key of the edge styles below the picture; returns its height."""
    zero = any(t.role == "zero" for t in out.texts)
    residual = any(e.kind == "residual" for e in out.edges)
    items: list[tuple[str, str]] = [
        ("upper", "upper level: feature or cell → cell input x, y"),
        ("inner", "inner: x, y, step → step → out (first operand enters above)"),
        ("head", "cell → classifier head"),
    ]
    if zero:
        items.append(("zero", "0: operand of a pruned Zero step"))
    if residual:
        items.append(
            ("residual", "x → out: all of `out` pruned, the cell is LayerNorm(x)")
        )
    x, row = MARGIN, y
    for kind, label in items:
        sample = 0.0 if kind == "zero" else 0.5
        need = sample + 0.1 + text_width(label, "legend") + 0.35
        if x > MARGIN and x + need > width - MARGIN:
            x, row = MARGIN, row + 0.26
        if kind == "zero":
            out.texts.append(Text(x + 0.05, row, "0", "zero"))
        elif kind in ("inner", "residual"):
            a, b = (x, row + 0.07), (x + sample, row - 0.07)
            mid = x + sample / 2
            out.edges.append(Edge(kind, (a, (mid, a[1]), (mid, b[1]), b), True))
        else:
            out.edges.append(Edge(kind, ((x, row), (x + sample, row))))
        out.texts.append(Text(x + sample + 0.12, row, label, "legend", "left"))
        x += need
    return row - y + 0.2
