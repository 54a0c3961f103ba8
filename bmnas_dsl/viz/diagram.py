"""What a genotype picture shows, read from the pruned IR (no positions, no drawing).

Both renderers (the matplotlib layout and the Graphviz DOT text) start from this one
description, so the two pictures can never disagree about what survived pruning.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import networkx as nx

from bmnas_dsl.ir.graph import OUTPUT, input_id, nodes_of_kind


@dataclass(frozen=True)
class Feature:
    node: str  # IR id, "feature:video.layer4"
    modality: str
    name: str  # the short name, "layer4"
    shape: tuple[int, ...] | None


@dataclass(frozen=True)
class Modality:
    name: str
    features: tuple[Feature, ...]


@dataclass(frozen=True)
class Step:
    node: str  # IR id, "step:c1.s1"
    name: str
    op: str
    operands: tuple[str, ...]  # IR ids of inputs or steps of the cell, or prune.ZERO


@dataclass(frozen=True)
class Cell:
    node: str  # IR id, "cell:c1"; it stands for the cell's output
    name: str
    inputs: tuple[tuple[str, str], ...]  # (port, source IR id); y only when read
    steps: tuple[Step, ...]  # dependency order
    out: tuple[str, ...]  # IR ids (steps or inputs) concatenated into the output
    project: bool  # the k*C -> C projection exists

    def port_node(self, port: str) -> str:
        return input_id(self.name, port)


@dataclass(frozen=True)
class Diagram:
    model: str
    C: int | None
    L: int | None
    classes: int | None
    task: str
    modalities: tuple[Modality, ...]
    cells: tuple[Cell, ...]  # evaluation order: a cell only reads earlier ones
    output: tuple[str, ...]  # cell names, in `output` order
    removed: tuple[tuple[str, int], ...]  # (kind, count) of what pruning took away

    def subtitle(self) -> str:
        parts = []
        if self.C is not None and self.L is not None:
            parts.append(f"C = {self.C}, L = {self.L}")
        if self.classes is not None:
            parts.append(f"{self.classes} classes")
        parts.append(self.task)
        return " · ".join(parts)

    def removed_note(self) -> str:
        """A count only: the names of pruned parts must not appear in the picture."""
        if not self.removed:
            return ""
        counts = ", ".join(
            f"{n} {kind}{'s' if n > 1 else ''}" for kind, n in self.removed
        )
        return f"pruned away (not drawn): {counts}"


def _shape(value: object) -> tuple[int, ...] | None:
    return tuple(value) if isinstance(value, list | tuple) else None


def diagram_of(pruned: nx.MultiDiGraph) -> Diagram:
    """The picture's content: kept features by modality, kept cells with kept steps."""
    graph = pruned.graph
    grouped: dict[str, list[Feature]] = {}
    for node in nodes_of_kind(pruned, "feature"):
        data = pruned.nodes[node]
        grouped.setdefault(data["modality"], []).append(
            Feature(node, data["modality"], data["feature"], _shape(data.get("shape")))
        )
    cells = []
    for name in graph.get("cell_order", []):
        data = pruned.nodes[f"cell:{name}"]
        steps = tuple(
            Step(
                node=s,
                name=pruned.nodes[s]["name"],
                op=str(pruned.nodes[s]["op"]),
                operands=tuple(pruned.nodes[s]["operands"]),
            )
            for s in data["steps"]
        )
        inputs = tuple(
            (port, data["inputs"][port])
            for port in ("x", "y")
            if port in data["inputs"]
        )
        cells.append(
            Cell(
                node=f"cell:{name}",
                name=name,
                inputs=inputs,
                steps=steps,
                out=tuple(data["out"]),
                project=bool(data.get("project")),
            )
        )
    output = tuple(pruned.nodes[OUTPUT]["cells"]) if OUTPUT in pruned.nodes else tuple()
    removed = Counter(item["kind"] for item in graph.get("removed", []))
    return Diagram(
        model=str(graph.get("model")),
        C=graph.get("C"),
        L=graph.get("L"),
        classes=graph.get("classes"),
        task=str(graph.get("task", "multiclass")),
        modalities=tuple(Modality(m, tuple(fs)) for m, fs in grouped.items()),
        cells=tuple(cells),
        output=output,
        removed=tuple(
            (kind, removed[kind])
            for kind in ("feature", "cell", "step")
            if removed[kind]
        ),
    )


def shape_text(shape: tuple[int, ...] | None) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]" if shape is not None else "[?]"


def head_lines(diagram: Diagram) -> list[str]:
    """What the classifier head box says: which cells it concatenates, and into what."""
    lines = ["head"]
    if diagram.output:
        lines.append("cat(" + ", ".join(diagram.output) + ")")
    if diagram.C is not None and diagram.L is not None:
        lines.append(f"[{diagram.C * max(len(diagram.output), 1)}, {diagram.L}]")
    lines.append("LayerNorm, FC")
    if diagram.classes is not None:
        lines.append(f"→ {diagram.classes} classes")
    return lines
