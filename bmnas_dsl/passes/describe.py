"""`bmnas info`: what a genotype's pruned network takes, contains and costs."""

from __future__ import annotations

from typing import Any

import networkx as nx

from bmnas_dsl.ir.graph import cell_id, nodes_of_kind
from bmnas_dsl.passes.params import count_params
from bmnas_dsl.passes.prune import ZERO


def _operand_name(pruned: nx.MultiDiGraph, node: str) -> str:
    if node == ZERO:
        return "zeros"
    data = pruned.nodes[node]
    return data["port"] if data["kind"] == "cell_input" else data["name"]


def describe(pruned: nx.MultiDiGraph) -> dict[str, Any]:
    """The `bmnas info --json` object."""
    cells = []
    for name in pruned.graph["cell_order"]:
        data = pruned.nodes[cell_id(name)]
        cells.append(
            {
                "name": name,
                "x": pruned.nodes[data["inputs"]["x"]]["name"],
                "y": pruned.nodes[data["inputs"]["y"]]["name"]
                if "y" in data["inputs"]
                else None,
                "steps": [
                    {
                        "name": pruned.nodes[s]["name"],
                        "op": pruned.nodes[s]["op"],
                        "operands": [
                            _operand_name(pruned, o)
                            for o in pruned.nodes[s]["operands"]
                        ],
                    }
                    for s in data["steps"]
                ],
                "out": [_operand_name(pruned, o) for o in data["out"]],
                "project": data["project"],
            }
        )
    return {
        "model": pruned.graph["model"],
        "task": pruned.graph["task"],
        "classes": pruned.graph["classes"],
        "dims": {"C": pruned.graph["C"], "L": pruned.graph["L"]},
        "dropout": pruned.graph["dropout"],
        "inputs": [
            {"name": pruned.nodes[n]["name"], "shape": pruned.nodes[n]["shape"]}
            for n in nodes_of_kind(pruned, "feature")
        ],
        "cells": cells,
        "output": pruned.nodes["output"]["cells"],
        "params": count_params(pruned),
        "removed": [
            {"kind": r["kind"], "name": r["name"], "reason": r["reason"]}
            for r in pruned.graph["removed"]
        ],
    }


def render_text(info: dict[str, Any]) -> str:
    """A short human-readable summary of `describe`'s object."""
    dims = info["dims"]
    lines = [
        f"model {info['model']}: {info['task']}, {info['classes']} classes, "
        f"C = {dims['C']}, L = {dims['L']}, dropout {info['dropout']}",
        "inputs (forward order):",
    ]
    width = max((len(i["name"]) for i in info["inputs"]), default=0)
    lines += [f"  {i['name']:<{width}}  {i['shape']}" for i in info["inputs"]]
    lines.append("cells (evaluation order):")
    for cell in info["cells"]:
        y = f", y = {cell['y']}" if cell["y"] else ", y unused"
        lines.append(f"  {cell['name']} (x = {cell['x']}{y})")
        for step in cell["steps"]:
            lines.append(
                f"    {step['name']} = {step['op']}({', '.join(step['operands'])})"
            )
        lines.append(
            f"    out = {', '.join(cell['out']) or '(nothing: output is LayerNorm(x))'}"
        )
    lines.append(f"output {', '.join(info['output'])}")
    if info["removed"]:
        removed = ", ".join(
            f"{r['kind']} {r['name']} ({r['reason']})" for r in info["removed"]
        )
        lines.append(f"pruned: {removed}")
    lines.append("parameters:")
    lines += [f"  {k:<10}  {v:>12,}" for k, v in info["params"].items()]
    return "\n".join(lines)
