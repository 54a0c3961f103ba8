"""Routing of the upper-level edges: one vertical trunk per source in the channel left of
the cells, its lane chosen to cross other trunks as little as possible; where the features
column sits; and the dots that mark branch points."""

from __future__ import annotations

from dataclasses import dataclass

from bmnas_dsl.viz.shapes import Point


@dataclass(frozen=True)
class Trunk:
    """Every upper edge of one source: a vertical trunk in the channel left of the cells,
    reached at y = `entry` (from the feature on the left, or for a cell from the right,
    through the gap above the first cell it feeds), with a branch to each port it feeds."""

    source: str  # IR id of the feature or cell
    entry: float
    from_cell: bool
    ports: tuple[Point, ...]  # centres of the ports it feeds

    def span(self) -> tuple[float, float]:
        ys = [self.entry, *(y for _, y in self.ports)]
        return min(ys), max(ys)


def _segments(
    trunk: Trunk, lane: float, left: float, right: float
) -> tuple[list[tuple[float, float, float]], list[tuple[float, float, float]]]:
    """(horizontal (y, x1, x2), vertical (x, y1, y2)) segments inside the channel."""
    low, high = trunk.span()
    entry = (trunk.entry, lane, right) if trunk.from_cell else (trunk.entry, left, lane)
    branches = [(y, lane, right) for _, y in trunk.ports]
    return [entry, *branches], [(lane, low, high)]


def _crossings(
    order: list[Trunk], lanes: list[float], left: float, right: float
) -> int:
    parts = [_segments(t, x, left, right) for t, x in zip(order, lanes, strict=True)]
    count = 0
    for a, (horizontal, _) in enumerate(parts):
        for b, (_, vertical) in enumerate(parts):
            if a == b:
                continue
            for y, x1, x2 in horizontal:
                for x, y1, y2 in vertical:
                    if x1 < x < x2 and y1 < y < y2:
                        count += 1
    return count


def order_lanes(
    trunks: list[Trunk], lanes: list[float], left: float, right: float
) -> list[Trunk]:
    """A lane order with few crossings: the best of a few sorted orders, then swaps of
    neighbours while they help (deterministic; a handful of trunks in practice)."""

    def middle(t: Trunk) -> float:
        return sum(y for _, y in t.ports) / len(t.ports)

    candidates = [
        sorted(trunks, key=lambda t: (t.entry < middle(t), -middle(t), t.entry)),
        sorted(trunks, key=lambda t: (middle(t), t.entry)),
        sorted(trunks, key=lambda t: (-middle(t), -t.entry)),
        sorted(trunks, key=lambda t: (t.span()[1] - t.span()[0], t.entry)),
    ]

    def score(order: list[Trunk]) -> int:
        return _crossings(order, lanes, left, right)

    best = min(candidates, key=score)
    best_score = score(best)
    improved = True
    while improved and best_score:
        improved = False
        for i in range(len(best) - 1):
            trial = [*best[:i], best[i + 1], best[i], *best[i + 2 :]]
            if score(trial) < best_score:
                best, best_score, improved = trial, score(trial), True
    return best


def feature_shift(
    feature_ys: dict[str, float], fed: dict[str, list[float]], ports: list[float]
) -> float:
    """How far to move the features column (at most 0.4 in): first so that no feature's
    line runs close beside the line into a port it does not feed (two nearly collinear
    lines read as one), then so that many lines run straight and few have a tiny jog."""

    def rank(shift: float) -> tuple[float, int, float]:
        crowding, bends = 0.0, 0
        for node, y in feature_ys.items():
            for port_y in ports:
                gap = abs(y + shift - port_y)
                if port_y in fed.get(node, []):
                    bends += -1 if gap < 0.01 else 2 * int(gap < 0.08)
                else:
                    crowding += max(0.0, 0.17 - gap)
        return round(crowding, 6), bends, abs(shift)

    candidates = [k * 0.02 for k in range(-20, 21)]
    candidates += [py - y for n, y in feature_ys.items() for py in fed.get(n, [])]
    return min((s for s in candidates if abs(s) <= 0.4), key=lambda s: (rank(s), s))


def branch_points(trunk: Trunk, lane: float) -> list[Point]:
    """Where three or four line directions meet on a trunk: a dot tells such a branch
    from a plain crossing or corner."""
    low, high = trunk.span()
    found = []
    for y in sorted({trunk.entry, *(py for _, py in trunk.ports)}):
        directions = set()
        if (
            y == trunk.entry
        ):  # a feature's line comes from the left, a cell's from the right
            directions.add("right" if trunk.from_cell else "left")
        if any(py == y for _, py in trunk.ports):
            directions.add("right")
        if y > low:
            directions.add("up")
        if y < high:
            directions.add("down")
        if len(directions) >= 3:
            found.append((lane, y))
    return found
