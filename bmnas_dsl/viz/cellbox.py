"""One cell of the picture: its x/y ports, its row of steps, its `out`, and the inner edges
between them, placed around the origin (`moved` puts it in place).

An inner edge between neighbouring columns is an S-curve; one that skips steps arcs above
(into a first operand) or below (into a second) the row, nested by span, and raised until
it clears every step it skips.
"""

from __future__ import annotations

from dataclasses import dataclass

from bmnas_dsl.passes.prune import ZERO
from bmnas_dsl.viz.diagram import Cell, Diagram
from bmnas_dsl.viz.shapes import (
    ARC_GAP,
    CELL_HEAD,
    CELL_PAD,
    OUT_ENTRY_GAP,
    OUT_W,
    PAD,
    PORT_AREA,
    PORT_DY,
    PORT_R,
    STEP_GAP,
    STEP_H,
    Box,
    Edge,
    Point,
    Text,
    text_width,
)


@dataclass
class CellGeometry:
    """A cell drawn at the origin (top-left corner at 0, 0); `moved` moves it."""

    width: float
    height: float
    row: float  # y of the step row's middle
    boxes: list[Box]
    texts: list[Text]
    edges: list[Edge]
    ports: dict[str, Point]  # port -> centre
    out_exit: Point


def _bezier(p0: Point, p1: Point, p2: Point, p3: Point, t: float) -> Point:
    s = 1.0 - t
    return (
        s**3 * p0[0] + 3 * s * s * t * p1[0] + 3 * s * t * t * p2[0] + t**3 * p3[0],
        s**3 * p0[1] + 3 * s * s * t * p1[1] + 3 * s * t * t * p2[1] + t**3 * p3[1],
    )


def _arc(
    start: Point, end: Point, clear: float, side: int, span: tuple[float, float]
) -> tuple[Point, Point]:
    """Control points of a curve from start to end that stays beyond y = `clear` (above
    it for side -1, below for +1) over the x range `span` of the steps it skips."""
    dx = min(0.2, (end[0] - start[0]) / 4)
    level = clear
    samples = [i / 40 for i in range(41)]
    for _ in range(200):
        c1, c2 = (start[0] + dx, level), (end[0] - dx, level)
        points = [_bezier(start, c1, c2, end, t) for t in samples]
        inside = [y for x, y in points if span[0] <= x <= span[1]]
        if all((y - clear) * side >= 0 for y in inside):
            return c1, c2
        level += 0.02 * side
    return c1, c2


def step_width(diagram: Diagram) -> float:
    widths = [
        max(text_width(s.name, "step"), text_width(s.op, "op"))
        for c in diagram.cells
        for s in c.steps
    ]
    return max([0.62, *widths]) + 2 * PAD


def layout_cell(cell: Cell, step_w: float) -> CellGeometry:
    n = len(cell.steps)
    column_x = [PORT_AREA + i * (step_w + STEP_GAP) for i in range(n)]
    out_x = PORT_AREA + n * (step_w + STEP_GAP) if n else PORT_AREA + 0.25
    width = out_x + OUT_W + CELL_PAD
    k = max(len(cell.out), 1)
    out_h = max(STEP_H, (k + 1) * OUT_ENTRY_GAP)

    # Everything below is placed around a step row at y = 0, then shifted down.
    column = {s.node: i for i, s in enumerate(cell.steps)}
    ports = {
        port: (0.0, (-PORT_DY if port == "x" else PORT_DY)) for port, _ in cell.inputs
    }

    def source(node: str) -> tuple[Point, int]:
        if node.startswith("input:"):
            x, y = ports[node.rsplit(".", 1)[1]]
            return (x + PORT_R, y), -1
        return (column_x[column[node]] + step_w, 0.0), column[node]

    # (start, end, source column, target column, side preference)
    wanted: list[tuple[Point, Point, int, int, float]] = []
    texts: list[Text] = []
    for i, step in enumerate(cell.steps):
        for position, operand in enumerate(step.operands):
            entry = (column_x[i], (position - 0.5) * STEP_H / 2)
            if operand == ZERO:  # the operand a pruned Zero step left behind
                texts.append(Text(entry[0] - 0.07, entry[1], "0", "zero"))
                continue
            start, col = source(operand)
            wanted.append((start, entry, col, i, entry[1]))
    for position, node in enumerate(cell.out):
        entry = (out_x, (position - (len(cell.out) - 1) / 2) * OUT_ENTRY_GAP)
        start, col = source(node)
        # An arc into the middle entry goes the way its source lies (above by default).
        wanted.append((start, entry, col, n, entry[1] or start[1] or -1.0))

    edges: list[Edge] = []
    if not cell.out:  # every entry of `out` was Zero: the cell computes LayerNorm(x)
        start, _ = source(cell.port_node("x"))
        mid = (start[0] + out_x) / 2
        points = (start, (mid, start[1]), (mid, 0.0), (out_x, 0.0))
        edges.append(Edge("residual", points, True))
    levels: dict[int, list[tuple[int, int, int]]] = {-1: [], 1: []}
    extent = {-1: out_h / 2, 1: out_h / 2}
    for start, end, s, t, prefer in sorted(wanted, key=lambda w: (w[3] - w[2], w[2])):
        if t == s + 1:  # neighbours: an S-curve with horizontal ends
            mid = (start[0] + end[0]) / 2
            edges.append(
                Edge("inner", (start, (mid, start[1]), (mid, end[1]), end), True)
            )
            continue
        side = -1 if prefer < 0 else 1
        level = 1 + max(
            [lv for a, b, lv in levels[side] if max(a, s) < min(b, t)], default=0
        )
        levels[side].append((s, t, level))
        clear = side * (STEP_H / 2 + ARC_GAP * level)
        skipped = (column_x[s + 1] - 0.05, column_x[t - 1] + step_w + 0.05)
        c1, c2 = _arc(start, end, clear, side, skipped)
        extent[side] = max(extent[side], abs(c1[1]) * 0.75 + 0.02)
        edges.append(Edge("inner", (start, c1, c2, end), True))

    top = CELL_HEAD + max(extent[-1], STEP_H / 2) + 0.06
    height = top + max(extent[1], STEP_H / 2) + CELL_PAD

    def down(p: Point) -> Point:
        return (p[0], p[1] + top)

    edges = [Edge(e.kind, tuple(down(p) for p in e.points), e.curved) for e in edges]
    texts = [Text(t.x, t.y + top, t.text, t.role, t.ha) for t in texts]
    boxes = [Box(0.0, 0.0, width, height, "cell")]
    texts.append(
        Text(PAD + 0.02, CELL_HEAD / 2 + 0.03, f"cell {cell.name}", "cell", "left")
    )
    for i, step in enumerate(cell.steps):
        boxes.append(
            Box(column_x[i], top - STEP_H / 2, step_w, STEP_H, "step", step.op)
        )
        centre = column_x[i] + step_w / 2
        texts.append(Text(centre, top - 0.09, step.name, "step"))
        texts.append(Text(centre, top + 0.1, step.op, "op"))
    boxes.append(Box(out_x, top - out_h / 2, OUT_W, out_h, "out"))
    texts.append(Text(out_x + OUT_W / 2, top, "out", "out"))
    for port, (x, y) in ports.items():
        boxes.append(Box(x - PORT_R, y + top - PORT_R, 2 * PORT_R, 2 * PORT_R, "port"))
        texts.append(Text(x, y + top, port, "port"))
    return CellGeometry(
        width=width,
        height=height,
        row=top,
        boxes=boxes,
        texts=texts,
        edges=edges,
        ports={p: down(xy) for p, xy in ports.items()},
        out_exit=(out_x + OUT_W, top),
    )


def moved(cell: CellGeometry, dx: float, dy: float) -> CellGeometry:
    def move(p: Point) -> Point:
        return (p[0] + dx, p[1] + dy)

    return CellGeometry(
        width=cell.width,
        height=cell.height,
        row=cell.row + dy,
        boxes=[Box(b.x + dx, b.y + dy, b.w, b.h, b.role, b.key) for b in cell.boxes],
        texts=[Text(t.x + dx, t.y + dy, t.text, t.role, t.ha) for t in cell.texts],
        edges=[
            Edge(e.kind, tuple(move(p) for p in e.points), e.curved) for e in cell.edges
        ],
        ports={p: move(xy) for p, xy in cell.ports.items()},
        out_exit=move(cell.out_exit),
    )
