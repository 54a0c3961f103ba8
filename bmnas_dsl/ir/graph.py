"""The IR: a networkx MultiDiGraph of the whole model, built from the AST.

The graph is plain data (no torch); `docs/ir.md` documents every node and edge. Building
it never fails: references that do not resolve, unknown ops and duplicates are recorded
as attributes so that `validate` can report each one with its location.

Node ids: `feature:<modality>.<feature>`, `cell:<cell>`, `input:<cell>.x|y`,
`step:<cell>.<step>`, `output`. Edges carry data flow, keyed by their `port`.
"""

from __future__ import annotations

import json
import math
from typing import Any

import networkx as nx

from bmnas_dsl.ir.ops import resolve_op
from bmnas_dsl.lang import ast
from bmnas_dsl.lang.ast import Span

OUTPUT = "output"


def feature_id(name: str) -> str:
    return f"feature:{name}"


def cell_id(name: str) -> str:
    return f"cell:{name}"


def input_id(cell: str, port: str) -> str:
    return f"input:{cell}.{port}"


def step_id(cell: str, step: str) -> str:
    return f"step:{cell}.{step}"


def _ref(ref: ast.Ref) -> dict[str, Any]:
    return {"text": ref.text, "span": ref.span}


def build_ir(file: ast.File, source: str = "<string>") -> nx.MultiDiGraph:
    """The whole model as a graph; the first model of the file when there are several."""
    g = nx.MultiDiGraph()
    g.graph.update(
        source=source,
        version=file.version.value if file.version else None,
        version_span=file.version.span if file.version else None,
        extra_models=[{"name": m.name, "span": m.name_span} for m in file.models[1:]],
        duplicates=[],
        model=None,
        header={"dims": [], "classes": [], "task": [], "dropout": [], "meta": []},
        modalities=[],
        outputs=[],
        C=None,
        L=None,
        classes=None,
        task="multiclass",
        dropout=0.0,
        meta={},
    )
    if file.models:
        _Builder(g).model(file.models[0])
    return g


class _Builder:
    def __init__(self, g: nx.MultiDiGraph) -> None:
        self.g = g
        self.modalities: dict[str, dict[str, Any]] = {}
        self.feature_count = 0

    def duplicate(self, kind: str, name: str, span: Span, first: Span) -> None:
        self.g.graph["duplicates"].append(
            {"kind": kind, "name": name, "span": span, "first": first}
        )

    def model(self, model: ast.Model) -> None:
        g = self.g
        g.graph.update(
            model=model.name, model_span=model.name_span, model_end=model.span
        )
        self.header(model)
        for modality in model.modalities:
            self.modality(modality)
        g.graph["modalities"] = list(self.modalities.values())
        cells = {}
        for cell in model.cells:
            if cell.name in cells:
                self.duplicate(
                    "cell", cell.name, cell.name_span, cells[cell.name].name_span
                )
                continue
            cells[cell.name] = cell
            self.cell(cell, index=len(cells) - 1)
        for cell in cells.values():
            self.cell_inputs(cell)
        g.graph["outputs"] = [
            {"refs": [_ref(r) for r in out.refs], "span": out.span}
            for out in model.outputs
        ]
        if model.outputs:
            self.output(model.outputs[0])

    def header(self, model: ast.Model) -> None:
        g = self.g
        g.graph["header"] = {
            "dims": [
                {
                    "entries": [(e.name, e.value, e.span) for e in d.entries],
                    "span": d.span,
                }
                for d in model.dims
            ],
            "classes": [{"value": c.value, "span": c.span} for c in model.classes],
            "task": [{"value": t.name, "span": t.span} for t in model.task],
            "dropout": [{"value": d.value, "span": d.span} for d in model.dropout],
            "meta": [{"span": m.span} for m in model.meta],
        }
        dims = {e.name: e.value for d in model.dims[:1] for e in d.entries}
        g.graph["C"] = dims.get("C")
        g.graph["L"] = dims.get("L")
        g.graph["classes"] = model.classes[0].value if model.classes else None
        g.graph["task"] = model.task[0].name if model.task else "multiclass"
        g.graph["dropout"] = model.dropout[0].value if model.dropout else 0.0
        meta: dict[str, Any] = {}
        meta_spans: dict[str, Span] = {}
        for block in model.meta[:1]:
            for entry in block.entries:
                if entry.key in meta:
                    self.duplicate(
                        "meta key", entry.key, entry.span, meta_spans[entry.key]
                    )
                    continue
                meta[entry.key] = entry.value
                meta_spans[entry.key] = entry.span
        g.graph["meta"] = meta

    def fusion_shape(self) -> list[int | None]:
        return [self.g.graph["C"], self.g.graph["L"]]

    def modality(self, modality: ast.Modality) -> None:
        g = self.g
        if modality.name in self.modalities:
            first = self.modalities[modality.name]["span"]
            self.duplicate("modality", modality.name, modality.name_span, first)
            return
        names: dict[str, ast.Feature] = {}
        for feature in modality.features:
            if feature.name in names:
                self.duplicate(
                    "feature",
                    f"{modality.name}.{feature.name}",
                    feature.name_span,
                    names[feature.name].name_span,
                )
                continue
            names[feature.name] = feature
            qualified = f"{modality.name}.{feature.name}"
            g.add_node(
                feature_id(qualified),
                kind="feature",
                name=qualified,
                modality=modality.name,
                feature=feature.name,
                shape=list(feature.shape),
                index=self.feature_count,
                span=feature.span,
                name_span=feature.name_span,
            )
            self.feature_count += 1
        self.modalities[modality.name] = {
            "name": modality.name,
            "span": modality.name_span,
            "features": list(names),
        }

    def cell(self, cell: ast.Cell, index: int) -> None:
        g = self.g
        node = cell_id(cell.name)
        outs = [{"refs": [_ref(r) for r in o.refs], "span": o.span} for o in cell.outs]
        g.add_node(
            node,
            kind="cell",
            name=cell.name,
            index=index,
            x=_ref(cell.x),
            y=_ref(cell.y),
            outs=outs,
            out_is_last=bool(cell.items) and isinstance(cell.items[-1], ast.Out),
            steps=[],
            shape=self.fusion_shape(),
            span=cell.span,
            name_span=cell.name_span,
        )
        for port in ("x", "y"):
            g.add_node(
                input_id(cell.name, port),
                kind="cell_input",
                cell=cell.name,
                port=port,
                shape=self.fusion_shape(),
            )
        g.add_edge(input_id(cell.name, "x"), node, key="residual", port="residual")
        steps: dict[str, ast.Step] = {}
        for step in cell.steps:
            if step.name in steps:
                self.duplicate(
                    "step",
                    f"{cell.name}.{step.name}",
                    step.name_span,
                    steps[step.name].name_span,
                )
                continue
            steps[step.name] = step
            g.nodes[node]["steps"].append(step_id(cell.name, step.name))
            spec = resolve_op(step.op)
            g.add_node(
                step_id(cell.name, step.name),
                kind="step",
                cell=cell.name,
                name=step.name,
                index=len(steps) - 1,
                op=spec.name if spec else None,
                op_text=step.op,
                op_span=step.op_span,
                args=[_ref(a) for a in step.args],
                shape=self.fusion_shape(),
                span=step.span,
                name_span=step.name_span,
            )
        for step in steps.values():
            for position, arg in enumerate(step.args):
                source = self.local(cell.name, arg)
                if source is not None:
                    g.add_edge(
                        source,
                        step_id(cell.name, step.name),
                        key=f"arg{position}",
                        port=position,
                        span=arg.span,
                    )
        if cell.outs:
            for position, ref in enumerate(cell.outs[0].refs):
                source = self.local(cell.name, ref)
                if source is not None and g.nodes[source]["kind"] == "step":
                    g.add_edge(
                        source,
                        node,
                        key=f"out{position}",
                        port="out",
                        position=position,
                        span=ref.span,
                    )

    def local(self, cell: str, ref: ast.Ref) -> str | None:
        """What a name inside a cell stands for: its x or y input, or one of its steps."""
        if len(ref.parts) != 1:
            return None
        if ref.text in ("x", "y"):
            return input_id(cell, ref.text)
        node = step_id(cell, ref.text)
        return node if node in self.g else None

    def global_ref(self, ref: ast.Ref) -> str | None:
        """What a cell input names: a `modality.feature` or another cell."""
        node = feature_id(ref.text) if len(ref.parts) == 2 else cell_id(ref.text)
        return node if node in self.g and len(ref.parts) <= 2 else None

    def cell_inputs(self, cell: ast.Cell) -> None:
        for port, ref in (("x", cell.x), ("y", cell.y)):
            source = self.global_ref(ref)
            if source is not None:
                self.g.add_edge(
                    source,
                    input_id(cell.name, port),
                    key=port,
                    port=port,
                    span=ref.span,
                )

    def output(self, output: ast.Output) -> None:
        g = self.g
        C, L = self.fusion_shape()
        count = len(output.refs)
        g.add_node(
            OUTPUT,
            kind="output",
            refs=[_ref(r) for r in output.refs],
            shape=[C * count if C is not None else None, L],
            span=output.span,
        )
        for position, ref in enumerate(output.refs):
            node = cell_id(ref.text)
            if len(ref.parts) == 1 and node in g:
                g.add_edge(
                    node,
                    OUTPUT,
                    key=f"cell{position}",
                    port="cell",
                    position=position,
                    span=ref.span,
                )


def nodes_of_kind(g: nx.MultiDiGraph, kind: str) -> list[str]:
    """Nodes of one kind in declaration order."""
    found = [n for n, k in g.nodes(data="kind") if k == kind]
    return sorted(found, key=lambda n: g.nodes[n].get("index", 0))


def cell_steps(g: nx.MultiDiGraph, cell: str) -> list[str]:
    """The step nodes of a cell, in source order."""
    return list(g.nodes[cell_id(cell)]["steps"])


def cell_graph(g: nx.MultiDiGraph) -> nx.DiGraph:
    """Cells only, with an edge a -> b when cell b takes cell a as an input."""
    cells = nx.DiGraph()
    for node in nodes_of_kind(g, "cell"):
        cells.add_node(g.nodes[node]["name"])
        for port in ("x", "y"):
            for source, _, data in g.in_edges(
                input_id(g.nodes[node]["name"], port), data=True
            ):
                if g.nodes[source]["kind"] == "cell":
                    cells.add_edge(
                        g.nodes[source]["name"],
                        g.nodes[node]["name"],
                        span=data["span"],
                    )
    return cells


def step_graph(g: nx.MultiDiGraph, cell: str) -> nx.DiGraph:
    """Steps of one cell, with an edge a -> b when step b takes step a as an operand."""
    steps = nx.DiGraph()
    for node in cell_steps(g, cell):
        steps.add_node(g.nodes[node]["name"])
        for source, _, data in g.in_edges(node, data=True):
            if g.nodes[source]["kind"] == "step":
                steps.add_edge(
                    g.nodes[source]["name"], g.nodes[node]["name"], span=data["span"]
                )
    return steps


def _jsonable(value: Any) -> Any:
    if isinstance(value, Span):
        return value.to_json()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(
        value
    ):  # not representable in JSON
        return None
    return value


def to_node_link(g: nx.MultiDiGraph) -> dict[str, Any]:
    """Node-link data with spans as [line, col, end_line, end_col], nodes in a stable order."""
    data = nx.node_link_data(g, edges="edges")

    def order(node: dict[str, Any]) -> tuple:
        # Inputs and steps are grouped by their cell, in the cell's declaration order.
        owner = g.nodes[cell_id(node["cell"])]["index"] if "cell" in node else 0
        return (
            _KIND_ORDER.get(node["kind"], 9),
            owner,
            node.get("index", 0),
            node["id"],
        )

    data["nodes"].sort(key=order)
    data["edges"].sort(key=lambda e: (e["source"], e["target"], str(e["key"])))
    return _jsonable(data)


_KIND_ORDER = {"feature": 0, "cell": 1, "cell_input": 2, "step": 3, "output": 4}


def dumps_json(g: nx.MultiDiGraph) -> str:
    return json.dumps(to_node_link(g), indent=1, sort_keys=True, allow_nan=False) + "\n"
