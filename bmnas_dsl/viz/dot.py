"""Graphviz DOT text of a genotype, for users who have Graphviz (`dot -Tpdf`).

Generated without Graphviz: plain text with one cluster per modality and per cell. Node
ids are the IR ids (`feature:video.layer4`, `input:c1.x`, `step:c1.s1`, `cell:c1` for the
cell's `out`, `output` for the head), always quoted. Upper-level edges are thick, dark and
solid; inner edges thin, blue and dashed, so they differ in colour and in grey scale.
"""

from __future__ import annotations

from bmnas_dsl.passes.prune import ZERO
from bmnas_dsl.viz.diagram import Cell, Diagram, head_lines, shape_text

UPPER = 'color="#243b53", penwidth=2.2, style=solid'
INNER = 'color="#1c7ed6", penwidth=1.0, style=dashed, arrowsize=0.7'
RESIDUAL = 'color="#868e96", penwidth=1.0, style=dotted, arrowsize=0.7'
OP_FILL = {
    "Sum": "#e7f5ff",
    "Attention": "#fff0f6",
    "LinearGLU": "#ebfbee",
    "ConcatFC": "#fff4e6",
}


def quote(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as \\n."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\r", "").replace("\n", "\\n") + '"'


def _label(*lines: str) -> str:
    return quote("\n".join(lines))


def _cell(cell: Cell, lines: list[str]) -> None:
    lines.append(f"  subgraph {quote('cluster_cell_' + cell.name)} {{")
    lines.append(
        f'    label={quote("cell " + cell.name)}; style=rounded; color="#495057";'
    )
    for port, _ in cell.inputs:
        lines.append(
            f"    {quote(cell.port_node(port))} [label={quote(port)}, shape=circle, "
            'width=0.3, fixedsize=true, color="#1c7ed6", fontcolor="#1c7ed6"];'
        )
    for step in cell.steps:
        fill = OP_FILL.get(step.op, "#f1f3f5")
        lines.append(
            f"    {quote(step.node)} [label={_label(step.name, step.op)}, "
            f'fillcolor="{fill}"];'
        )
    lines.append(
        f"    {quote(cell.node)} [label={quote('out')}, "
        'fillcolor="#f3f0ff", color="#5f3dc4", fontcolor="#5f3dc4"];'
    )
    zero = 0
    for step in cell.steps:
        for position, operand in enumerate(step.operands):
            if operand == ZERO:  # the operand a pruned Zero step left behind
                zero += 1
                node = quote(f"zero:{cell.name}.{step.name}.{position}")
                lines.append(
                    f'    {node} [label="0", shape=plaintext, fontcolor="#868e96"];'
                )
                lines.append(f"    {node} -> {quote(step.node)} [{INNER}];")
            else:
                lines.append(f"    {quote(operand)} -> {quote(step.node)} [{INNER}];")
    for source in cell.out:
        lines.append(f"    {quote(source)} -> {quote(cell.node)} [{INNER}];")
    if not cell.out:  # every `out` entry was Zero: the cell is LayerNorm(x)
        x = quote(cell.port_node("x"))
        lines.append(f"    {x} -> {quote(cell.node)} [{RESIDUAL}];")
    lines.append("  }")


def render_dot(diagram: Diagram) -> str:
    """The whole picture as a `digraph`, left to right."""
    title = [diagram.model, diagram.subtitle()]
    if diagram.removed_note():
        title.append(diagram.removed_note())
    lines = [
        f"digraph {quote(diagram.model)} {{",
        f"  graph [rankdir=LR, compound=true, newrank=true, labelloc=t, "
        f'fontname="Helvetica", label={_label(*title)}];',
        '  node [shape=box, style="rounded,filled", fillcolor="#ffffff", '
        'fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica"];',
    ]
    for modality in diagram.modalities:
        lines.append(f"  subgraph {quote('cluster_modality_' + modality.name)} {{")
        lines.append(
            f'    label={quote(modality.name)}; style="rounded,filled"; '
            'fillcolor="#f1f3f5"; color="#adb5bd";'
        )
        for feature in modality.features:
            label = _label(feature.name, shape_text(feature.shape))
            lines.append(f"    {quote(feature.node)} [label={label}];")
        lines.append("  }")
    for cell in diagram.cells:
        _cell(cell, lines)
    lines.append(
        f'  "output" [label={_label(*head_lines(diagram))}, fillcolor="#f8f9fa"];'
    )
    for cell in diagram.cells:
        for port, source in cell.inputs:
            lines.append(
                f"  {quote(source)} -> {quote(cell.port_node(port))} [{UPPER}];"
            )
    for name in dict.fromkeys(diagram.output):
        lines.append(f'  {quote("cell:" + name)} -> "output" [{UPPER}];')
    lines.append("}")
    return "\n".join(lines) + "\n"
