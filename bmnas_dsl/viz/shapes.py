"""The primitives of a genotype picture (boxes, labels, edges, in inches, y down) and the
sizes every placement module shares; pure Python, no matplotlib."""

from __future__ import annotations

from dataclasses import dataclass, field

Point = tuple[float, float]

# Font sizes (points) per text role; draw.py renders with the same table, and widths are
# estimated from it: monospace roles have an exact advance of 0.602 em (DejaVu Sans Mono),
# proportional ones are bounded by 0.64 em for the lower-case text they hold.
FONT: dict[str, float] = {
    "title": 13.0,
    "subtitle": 9.5,
    "note": 8.5,
    "legend": 8.5,
    "modality": 9.0,
    "feature": 8.5,
    "shape": 7.5,
    "cell": 9.0,
    "step": 8.5,
    "op": 8.0,
    "port": 7.5,
    "out": 8.0,
    "zero": 7.5,
    "head": 8.5,
    "head_title": 9.0,
}
PROPORTIONAL = frozenset({"title", "subtitle", "note", "legend"})

MARGIN = 0.3
PAD = 0.09  # text padding inside boxes
LANE = 0.12  # distance between parallel lanes of upper-level edges
FEATURE_H, FEATURE_GAP, GROUP_HEAD, GROUP_GAP = 0.42, 0.08, 0.27, 0.2
STEP_H, STEP_GAP, PORT_AREA, PORT_R, PORT_DY = 0.44, 0.46, 0.46, 0.09, 0.13
OUT_W, OUT_ENTRY_GAP = 0.46, 0.12
CELL_HEAD, CELL_PAD, CELL_GAP = 0.3, 0.12, 0.34
ARC_GAP = 0.11  # distance between nested arcs, and from an arc to the steps it skips


def text_width(text: str, role: str) -> float:
    """Estimated width in inches of `text` drawn in `role`'s font."""
    em = 0.64 if role in PROPORTIONAL else 0.602
    return len(text) * em * FONT[role] / 72.0


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    role: str  # modality, feature, cell, step, out, head, port
    key: str = ""  # the op of a step (its fill colour)

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    role: str
    ha: str = "center"


@dataclass(frozen=True)
class Edge:
    # "upper" (into a cell input), "inner" (inside a cell), "head" (into the head),
    # "residual" (x straight to `out`, drawn only when every `out` entry was pruned)
    kind: str
    points: tuple[Point, ...]
    curved: bool = False  # True: cubic Bezier segments (1 + 3k points), else a polyline


@dataclass
class Layout:
    width: float = 0.0
    height: float = 0.0
    boxes: list[Box] = field(default_factory=list)
    texts: list[Text] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    dots: list[Point] = field(default_factory=list)  # where an upper line branches
