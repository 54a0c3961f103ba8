"""The IR as text for people (`bmnas ir` without --json): one line per node and edge."""

from __future__ import annotations

import networkx as nx

from bmnas_dsl.ir.graph import to_node_link


def render_text(graph: nx.MultiDiGraph) -> str:
    """A summary line, then the nodes (id, kind, shape, op) and the edges (with keys)."""
    data = to_node_link(graph)
    lines = [
        f"model {data['graph']['model']}  ({len(data['nodes'])} nodes, {len(data['edges'])} edges)",
        "nodes:",
    ]
    for node in data["nodes"]:
        extra = f" op={node['op']}" if node.get("op") else ""
        lines.append(
            f"  {node['id']:<32} {node['kind']:<10} shape={node.get('shape')}{extra}"
        )
    lines.append("edges:")
    lines += [f"  {e['source']} -> {e['target']}  [{e['key']}]" for e in data["edges"]]
    return "\n".join(lines)
