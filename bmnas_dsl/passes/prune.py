"""Pruning: the network that is actually computed, as the later stages consume it.

Zero steps are removed and their consumers receive zeros (`ZERO` as an operand); a Sum
with a zero operand becomes its other operand; then only what the output needs is kept:
steps reachable from their cell's `out`, cells reachable from `output` through inputs that
some kept step (or the residual) really reads, and the features those cells read.
"""

from __future__ import annotations

from collections import deque
from typing import Any

import networkx as nx

from bmnas_dsl.ir.graph import (
    OUTPUT,
    cell_graph,
    cell_id,
    cell_steps,
    input_id,
    nodes_of_kind,
    step_graph,
)
from bmnas_dsl.lang.diagnostics import Diagnostic

ZERO = "zero"  # operand value of a removed Zero step; not a node


def _resolve_cell(g: nx.MultiDiGraph, cell: str) -> dict[str, Any]:
    """Fold Zero and Sum-with-zero steps of one cell; return its live steps and out."""
    steps = {g.nodes[s]["name"]: s for s in cell_steps(g, cell)}
    order = step_graph(g, cell)
    value: dict[str, str] = {}  # step name -> node id it stands for, or ZERO

    def operand(text: str) -> str:
        return input_id(cell, text) if text in ("x", "y") else value[text]

    operands: dict[str, list[str]] = {}
    folded = []
    for name in nx.lexicographical_topological_sort(
        order, key=lambda n: g.nodes[steps[n]]["index"]
    ):
        data = g.nodes[steps[name]]
        args = [operand(a["text"]) for a in data["args"]]
        if data["op"] == "Zero":
            value[name] = ZERO
        elif data["op"] == "Sum" and ZERO in args:
            value[name] = args[1] if args[0] == ZERO else args[0]
            folded.append(name)
        else:
            value[name] = steps[name]
            operands[name] = args
    written_out = [
        operand(r["text"]) for r in g.nodes[cell_id(cell)]["outs"][0]["refs"]
    ]
    out = [v for v in written_out if v != ZERO]
    # The k*C -> C projection exists when `out` lists several steps. Zero entries add only
    # zero channels to its input, so they are dropped from the concatenation (the function
    # is unchanged); with nothing left, h is just the residual x.
    project = len(written_out) > 1 and bool(out)
    live: set[str] = set()
    queue = deque(v for v in out if g.nodes[v]["kind"] == "step")
    while queue:
        node = queue.popleft()
        if node in live:
            continue
        live.add(node)
        queue.extend(
            v for v in operands[g.nodes[node]["name"]] if v.startswith("step:")
        )
    reads_y = input_id(cell, "y") in out or any(
        input_id(cell, "y") in operands[g.nodes[s]["name"]] for s in live
    )
    reachable = _reachable_in_source(g, cell)
    removed = []
    for name, node in steps.items():
        if node in live:
            continue
        if g.nodes[node]["op"] == "Zero" and node in reachable:
            reason = "zero"  # W002 says it; an unreachable Zero step gets W001 too
        elif name in folded:
            reason = "folded"
        elif node in reachable:
            reason = "unused"
        else:
            reason = "unreachable"
        removed.append(
            {
                "kind": "step",
                "name": f"{cell}.{name}",
                "reason": reason,
                "span": g.nodes[node]["name_span"],
            }
        )
    return {
        "steps": [
            steps[n]
            for n in nx.lexicographical_topological_sort(
                order.subgraph(g.nodes[s]["name"] for s in live),
                key=lambda n: g.nodes[steps[n]]["index"],
            )
        ],
        "operands": operands,
        "out": out,
        "project": project,
        "reads_y": reads_y,
        "removed": removed,
    }


def _reachable_in_source(g: nx.MultiDiGraph, cell: str) -> set[str]:
    """Steps the source text connects to the cell's `out`, whatever their ops."""
    seen: set[str] = set()
    queue = deque(
        u for u, _, k in g.in_edges(cell_id(cell), keys=True) if k.startswith("out")
    )
    while queue:
        node = queue.popleft()
        if node in seen or g.nodes[node]["kind"] != "step":
            continue
        seen.add(node)
        queue.extend(u for u, _ in g.in_edges(node))
    return seen


def _source_of(g: nx.MultiDiGraph, cell: str, port: str) -> str:
    return next(
        u for u, _, k in g.in_edges(input_id(cell, port), keys=True) if k == port
    )


def prune(g: nx.MultiDiGraph) -> nx.MultiDiGraph:
    """The pruned network of a valid IR (validate first: this assumes no errors)."""
    cells = {
        g.nodes[n]["name"]: _resolve_cell(g, g.nodes[n]["name"])
        for n in nodes_of_kind(g, "cell")
    }
    live_cells: set[str] = set()
    used_features: set[str] = set()
    queue = deque(g.nodes[u]["name"] for u, _ in g.in_edges(OUTPUT))
    while queue:
        name = queue.popleft()
        if name in live_cells:
            continue
        live_cells.add(name)
        ports = ("x", "y") if cells[name]["reads_y"] else ("x",)
        for port in ports:
            source = _source_of(g, name, port)
            if g.nodes[source]["kind"] == "cell":
                queue.append(g.nodes[source]["name"])
            else:
                used_features.add(source)

    p = nx.MultiDiGraph()
    p.graph.update(
        {
            k: g.graph[k]
            for k in ("source", "model", "C", "L", "classes", "task", "dropout", "meta")
        }
    )
    C, L = g.graph["C"], g.graph["L"]
    removed: list[dict[str, Any]] = []
    for node in nodes_of_kind(g, "feature"):
        data = g.nodes[node]
        if node in used_features:
            p.add_node(
                node,
                **{
                    k: data[k]
                    for k in ("kind", "name", "modality", "feature", "shape", "span")
                },
                index=len(p),
            )
        else:
            removed.append(
                {
                    "kind": "feature",
                    "name": data["name"],
                    "reason": "unused",
                    "span": data["name_span"],
                }
            )
    live_order = [n for n in _cell_order(g) if n in live_cells]
    for position, name in enumerate(live_order):
        resolved = cells[name]
        node = cell_id(name)
        ports = ("x", "y") if resolved["reads_y"] else ("x",)
        inputs = {port: _source_of(g, name, port) for port in ports}
        p.add_node(
            node,
            kind="cell",
            name=name,
            index=position,
            inputs=inputs,
            steps=resolved["steps"],
            out=resolved["out"],
            project=resolved["project"],
            shape=[C, L],
            span=g.nodes[node]["span"],
        )
        for port, source in inputs.items():
            p.add_node(
                input_id(name, port),
                kind="cell_input",
                cell=name,
                port=port,
                shape=[C, L],
            )
            p.add_edge(source, input_id(name, port), key=port, port=port)
        p.add_edge(input_id(name, "x"), node, key="residual", port="residual")
        for order, step in enumerate(resolved["steps"]):
            data = g.nodes[step]
            operands = resolved["operands"][data["name"]]
            p.add_node(
                step,
                kind="step",
                cell=name,
                name=data["name"],
                index=order,
                op=data["op"],
                operands=operands,
                shape=[C, L],
                span=data["span"],
            )
            for position_in_op, source in enumerate(operands):
                if source != ZERO:
                    p.add_edge(
                        source, step, key=f"arg{position_in_op}", port=position_in_op
                    )
        for position_in_out, source in enumerate(resolved["out"]):
            p.add_edge(
                source,
                node,
                key=f"out{position_in_out}",
                port="out",
                position=position_in_out,
            )
    written = _reachable_cells_in_source(g)
    for name, resolved in cells.items():
        if name in live_cells:
            removed += resolved["removed"]
        else:  # its steps go with it
            removed.append(
                {
                    "kind": "cell",
                    "name": name,
                    "reason": "unused" if name in written else "unreachable",
                    "span": g.nodes[cell_id(name)]["name_span"],
                }
            )
    out_cells = [
        g.nodes[u]["name"]
        for u, _, _ in sorted(g.in_edges(OUTPUT, data="position"), key=lambda e: e[2])
    ]
    p.add_node(
        OUTPUT,
        kind="output",
        cells=out_cells,
        shape=[C * len(out_cells), L],
        span=g.nodes[OUTPUT]["span"],
    )
    for position, name in enumerate(out_cells):
        p.add_edge(
            cell_id(name), OUTPUT, key=f"cell{position}", port="cell", position=position
        )
    p.graph["inputs"] = [p.nodes[n]["name"] for n in nodes_of_kind(p, "feature")]
    p.graph["cell_order"] = live_order
    p.graph["removed"] = removed
    return p


def _reachable_cells_in_source(g: nx.MultiDiGraph) -> set[str]:
    """Cells that the text connects to `output` through x or y inputs."""
    cells = cell_graph(g)
    found: set[str] = set()
    for u, _ in g.in_edges(OUTPUT):
        name = g.nodes[u]["name"]
        found |= {name} | nx.ancestors(cells, name)
    return found


def _cell_order(g: nx.MultiDiGraph) -> list[str]:
    """Cells in dependency order, ties broken by declaration order."""
    cells = cell_graph(g)
    index = {g.nodes[n]["name"]: g.nodes[n]["index"] for n in nodes_of_kind(g, "cell")}
    return list(nx.lexicographical_topological_sort(cells, key=index.__getitem__))


def prune_warnings(
    g: nx.MultiDiGraph, pruned: nx.MultiDiGraph | None
) -> list[Diagnostic]:
    """W002 always; W001, W003, W004 from what `prune` removed (None: not prunable)."""
    warnings = [
        Diagnostic(
            "W002",
            f"step '{g.nodes[s]['cell']}.{g.nodes[s]['name']}' is a Zero step; it is "
            "removed and its consumers receive zeros",
            g.nodes[s]["op_span"],
            "warning",
        )
        for s in nodes_of_kind(g, "step")
        if g.nodes[s]["op"] == "Zero"
    ]
    if pruned is None:
        return warnings
    messages = {
        ("step", "unreachable"): (
            "W001",
            "step '{}' is not reachable from its cell's `out`; it is removed",
        ),
        ("step", "unused"): (
            "W001",
            "step '{}' only feeds removed steps; it is removed",
        ),
        ("cell", "unreachable"): (
            "W003",
            "cell '{}' is not reachable from `output`; it is removed",
        ),
        ("cell", "unused"): (
            "W003",
            "cell '{}' is only read as a `y` input that no kept step uses; it is removed",
        ),
        ("feature", "unused"): (
            "W004",
            "feature '{}' is not used by any kept cell; the "
            "generated model does not take it as an input",
        ),
    }
    for item in pruned.graph["removed"]:
        key = (item["kind"], item["reason"])
        if key in messages:
            code, template = messages[key]
            warnings.append(
                Diagnostic(code, template.format(item["name"]), item["span"], "warning")
            )
    return warnings
