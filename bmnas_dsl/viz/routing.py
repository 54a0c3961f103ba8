"""Routing of the upper-level edges: one vertical trunk per source in the channel left of
the cells, its lane chosen to cross other trunks as little as possible; where the features
column sits; and the dots that mark branch points."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import pairwise

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


MAX_ORDERED_TRUNKS = 100  # above this, a plain sorted order (scoring one is O(T^2))
MAX_PASSES = 50  # sweeps of neighbour swaps; a handful of trunks settle in two or three


@dataclass(frozen=True)
class _Reach:
    """What of a trunk a crossing count needs: its vertical span, and the heights of its
    horizontal lines, sorted, by the side of its lane they run to."""

    low: float
    high: float
    rightward: tuple[float, ...]  # the branches, and a cell's entry: lane -> right
    leftward: tuple[float, ...]  # a feature's entry: left -> lane

    @classmethod
    def of(cls, trunk: Trunk) -> _Reach:
        branches = [y for _, y in trunk.ports]
        if trunk.from_cell:
            return cls(*trunk.span(), tuple(sorted([trunk.entry, *branches])), ())
        return cls(*trunk.span(), tuple(sorted(branches)), (trunk.entry,))


def _within(ys: tuple[float, ...], low: float, high: float) -> int:
    """How many of the sorted `ys` lie strictly between low and high."""
    return max(0, bisect_left(ys, high) - bisect_right(ys, low))


def _pair(left: _Reach, right: _Reach) -> int:
    """Crossings between a trunk and one in a lane to its right (all lanes lie between
    the channel's edges): the left one's rightward lines cross the right one's vertical
    where they are within its span, and the right one's leftward line crosses the left
    one's vertical likewise."""
    return _within(left.rightward, right.low, right.high) + _within(
        right.leftward, left.low, left.high
    )


def _crossings(order: list[_Reach]) -> int:
    """Crossings of the trunks in lanes of this order, left to right (O(T^2 log T))."""
    return sum(
        _pair(a, order[j])
        for i, a in enumerate(order)
        for j in range(i + 1, len(order))
    )


def order_lanes(
    trunks: list[Trunk], lanes: list[float], left: float, right: float
) -> list[Trunk]:
    """A lane order with few crossings: the best of a few sorted orders, then sweeps of
    neighbour swaps while they help (deterministic; a handful of trunks in practice).

    `lanes` must rise strictly between `left` and `right` (the channel's edges): then
    whether two lines cross depends only on the order of their lanes, and swapping two
    neighbours changes only their own crossings, so a swap is scored in O(1). Over
    MAX_ORDERED_TRUNKS trunks the first sorted order is kept as it is: scoring an order
    grows with the square of the trunks, and a picture that large is read by following
    one line at a time anyway."""
    edges = [left, *lanes, right]
    if len(lanes) != len(trunks) or any(a >= b for a, b in pairwise(edges)):
        raise ValueError("need one lane per trunk, rising between the channel's edges")

    def middle(t: Trunk) -> float:
        return sum(y for _, y in t.ports) / len(t.ports)

    first = sorted(trunks, key=lambda t: (t.entry < middle(t), -middle(t), t.entry))
    if len(trunks) > MAX_ORDERED_TRUNKS:
        return first
    candidates = [
        first,
        sorted(trunks, key=lambda t: (middle(t), t.entry)),
        sorted(trunks, key=lambda t: (-middle(t), -t.entry)),
        sorted(trunks, key=lambda t: (t.span()[1] - t.span()[0], t.entry)),
    ]
    reach = {id(t): _Reach.of(t) for t in trunks}
    scores = [_crossings([reach[id(t)] for t in c]) for c in candidates]
    best_score = min(scores)
    best = list(candidates[scores.index(best_score)])
    for _ in range(MAX_PASSES):
        if not best_score:
            break
        improved = False
        for i in range(len(best) - 1):
            a, b = reach[id(best[i])], reach[id(best[i + 1])]
            delta = _pair(b, a) - _pair(a, b)
            if delta < 0:
                best[i], best[i + 1] = best[i + 1], best[i]
                best_score += delta
                improved = True
        if not improved:
            break
    return best


CROWD = 0.17  # a feature's line this close beside an unrelated port's line reads as one


def feature_shift(
    feature_ys: dict[str, float], fed: dict[str, list[float]], ports: list[float]
) -> float:
    """How far to move the features column (at most 0.4 in): first so that no feature's
    line runs close beside the line into a port it does not feed (two nearly collinear
    lines read as one), then so that many lines run straight and few have a tiny jog."""

    # Only ports nearer than CROWD count, so each feature looks them up by height
    # (linear in the ports overall, not features x ports per candidate shift); those
    # found are visited in their given order, which keeps the float sums as they were.
    by_height = sorted(range(len(ports)), key=ports.__getitem__)
    heights = [ports[k] for k in by_height]
    owned = {node: set(ys) for node, ys in fed.items()}

    def near(y: float) -> list[float]:
        low = bisect_left(heights, y - CROWD - 1e-6)
        high = bisect_right(heights, y + CROWD + 1e-6)
        return [ports[k] for k in sorted(by_height[low:high])]

    def rank(shift: float) -> tuple[float, int, float]:
        crowding, bends = 0.0, 0
        for node, y in feature_ys.items():
            mine = owned.get(node, set())
            for port_y in near(y + shift):
                gap = abs(y + shift - port_y)
                if port_y in mine:
                    bends += -1 if gap < 0.01 else 2 * int(gap < 0.08)
                else:
                    crowding += max(0.0, CROWD - gap)
        return round(crowding, 6), bends, abs(shift)

    candidates = [k * 0.02 for k in range(-20, 21)]
    candidates += [py - y for n, y in feature_ys.items() for py in fed.get(n, [])]
    return min((s for s in candidates if abs(s) <= 0.4), key=lambda s: (rank(s), s))


def branch_points(trunk: Trunk, lane: float) -> list[Point]:
    """Where three or four line directions meet on a trunk: a dot tells such a branch
    from a plain crossing or corner."""
    low, high = trunk.span()
    fed = {py for _, py in trunk.ports}
    found = []
    for y in sorted({trunk.entry, *fed}):
        directions = set()
        if (
            y == trunk.entry
        ):  # a feature's line comes from the left, a cell's from the right
            directions.add("right" if trunk.from_cell else "left")
        if y in fed:
            directions.add("right")
        if y > low:
            directions.add("up")
        if y < high:
            directions.add("down")
        if len(directions) >= 3:
            found.append((lane, y))
    return found
