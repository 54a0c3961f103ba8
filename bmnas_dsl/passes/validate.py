"""Validation: one entry point, `validate(ir)`, running one small pass per rule.

Each pass takes the IR and yields diagnostics; all passes always run, so a file's every
problem is reported at once. Codes and conditions are those of the language spec.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator

import networkx as nx

from bmnas_dsl.ir.graph import (
    cell_graph,
    cell_id,
    cell_steps,
    feature_id,
    input_id,
    nodes_of_kind,
    step_graph,
    step_id,
)
from bmnas_dsl.ir.ops import OPS, known_op_names, resolve_op
from bmnas_dsl.lang.ast import NO_SPAN, TASKS, Span
from bmnas_dsl.lang.diagnostics import Diagnostic
from bmnas_dsl.lang.names import identifier_problem, suggest, suggestion_budget
from bmnas_dsl.passes.prune import prune, prune_warnings

MAX_INT = 2**31 - 1

# The meta entry by which a file says that its modalities declare every feature of its
# data on purpose, read or not: a searched genotype (the declarations are the search
# space, which hand edits and the ablations draw on) or an imported one (the released
# code's input list). Its unused features are expected, so W004 stays quiet about them;
# `bmnas info` still lists them as pruned. docs/language.md, "Statements".
DECLARES_ALL_FEATURES = "declares_all_features"

Pass = Callable[[nx.MultiDiGraph], Iterable[Diagnostic]]


def error(code: str, message: str, span: Span | None) -> Diagnostic:
    return Diagnostic(code, message, span or NO_SPAN)


def check_version(g: nx.MultiDiGraph) -> Iterator[Diagnostic]:
    """A missing `bmg 1` line (the grammar allows none, so that the file's other errors
    are still reported). Another version never reaches the IR: the parser refuses it
    (E002) before judging the syntax."""
    if g.graph["version"] is None:
        yield error(
            "E002", "missing version line; start the file with `bmg 1`", NO_SPAN
        )


def check_model_count(g: nx.MultiDiGraph) -> Iterator[Diagnostic]:
    if g.graph["model"] is None:
        yield error(
            "E014", "the file defines no model; add `model NAME { ... }`", NO_SPAN
        )
        return
    for extra in g.graph["extra_models"]:
        yield error(
            "E014",
            f"more than one model in the file ('{extra['name']}' is the "
            f"second); a .bmg file holds exactly one model",
            extra["span"],
        )
    if not nodes_of_kind(g, "cell"):
        yield error(
            "E014", f"model '{g.graph['model']}' has no cell", g.graph["model_span"]
        )


def check_header(g: nx.MultiDiGraph) -> Iterator[Diagnostic]:
    if g.graph["model"] is None:
        return
    header = g.graph["header"]
    model_span = g.graph["model_span"]
    for statement in ("dims", "classes", "task", "dropout", "meta"):
        for repeat in header[statement][1:]:
            yield error(
                "E009", f"`{statement}` is repeated; give it once", repeat["span"]
            )
    if not header["dims"]:
        yield error("E009", "missing `dims C = INT, L = INT`", model_span)
    for dims in header["dims"][:1]:
        seen: set[str] = set()
        for name, value, span in dims["entries"]:
            if name not in ("C", "L"):
                yield error(
                    "E009", f"unknown dimension '{name}'; `dims` takes C and L", span
                )
            elif name in seen:
                yield error("E009", f"dimension {name} is given twice", span)
            elif not 1 <= value <= MAX_INT:
                yield error(
                    "E009",
                    f"dimension {name} = {value} must be a positive integer (at most {MAX_INT})",
                    span,
                )
            seen.add(name)
        for name in ("C", "L"):
            if name not in seen:
                yield error("E009", f"`dims` is missing {name}", dims["span"])
    if not header["classes"]:
        yield error("E009", "missing `classes INT`", model_span)
    for classes in header["classes"][:1]:
        if not 1 <= classes["value"] <= MAX_INT:
            yield error(
                "E009",
                f"classes {classes['value']} must be a positive integer",
                classes["span"],
            )
    for task in header["task"][:1]:
        if task["value"] not in TASKS:
            hint = suggest(task["value"], list(TASKS))
            yield error(
                "E009",
                f"unknown task '{task['value']}'; use multiclass or multilabel{hint}",
                task["span"],
            )
    for dropout in header["dropout"][:1]:
        p = dropout["value"]
        if not (math.isfinite(p) and 0 <= p < 1):
            yield error(
                "E009",
                f"dropout {p} is out of range; it must satisfy 0 <= p < 1",
                dropout["span"],
            )
    for key, value in g.graph["meta"].items():
        if isinstance(value, float) and not math.isfinite(value):
            yield error(
                "E009",
                f"meta value '{key}' is not a finite number",
                g.graph["header"]["meta"][0]["span"],
            )


def check_duplicates(g: nx.MultiDiGraph) -> Iterator[Diagnostic]:
    for dup in g.graph["duplicates"]:
        first = dup["first"]
        yield error(
            "E008",
            f"duplicate {dup['kind']} '{dup['name']}' (first defined at line "
            f"{first.line}, column {first.column})",
            dup["span"],
        )


def check_identifiers(g: nx.MultiDiGraph) -> Iterator[Diagnostic]:
    named: list[tuple[str, str, Span]] = []
    if g.graph["model"] is not None:
        named.append(("model", g.graph["model"], g.graph["model_span"]))
    named += [("modality", m["name"], m["span"]) for m in g.graph["modalities"]]
    for data in g.nodes.values():
        kind = data["kind"]
        if kind == "feature":
            named.append(("feature", data["feature"], data["name_span"]))
        elif kind in ("cell", "step"):
            named.append((kind, data["name"], data["name_span"]))
    for kind, name, span in named:
        problem = identifier_problem(name)
        if problem:
            yield error(
                "E011", f"{kind} name '{name}' {problem}; choose another name", span
            )


def check_feature_shapes(g: nx.MultiDiGraph) -> Iterator[Diagnostic]:
    for node in nodes_of_kind(g, "feature"):
        data = g.nodes[node]
        shape = data["shape"]
        if not shape:
            yield error(
                "E010",
                f"feature '{data['name']}' has an empty shape; give at least "
                "its channels, e.g. [512]",
                data["span"],
            )
        elif any(not 1 <= d <= MAX_INT for d in shape):
            yield error(
                "E010",
                f"feature '{data['name']}' has shape {shape}; every dimension "
                "must be a positive integer",
                data["span"],
            )


def check_ops(g: nx.MultiDiGraph) -> Iterator[Diagnostic]:
    for node in nodes_of_kind(g, "step"):
        data = g.nodes[node]
        if data["op"] is None:
            hint = suggest(data["op_text"], known_op_names())
            yield error(
                "E003",
                f"unknown operation '{data['op_text']}'{hint} (known: {', '.join(OPS)})",
                data["op_span"],
            )
            continue
        arity = resolve_op(data["op"]).arity
        if len(data["args"]) != arity:
            yield error(
                "E007",
                f"{data['op_text']} takes {arity} operands, got {len(data['args'])}",
                data["span"],
            )


def _global_names(g: nx.MultiDiGraph) -> list[str]:
    return [g.nodes[n]["name"] for n in g if g.nodes[n]["kind"] in ("feature", "cell")]


def check_cell_inputs(g: nx.MultiDiGraph) -> Iterator[Diagnostic]:
    names = None
    for node in nodes_of_kind(g, "cell"):
        data = g.nodes[node]
        sources = {}
        for port in ("x", "y"):
            ref = data[port]
            found = [
                u
                for u, _, k in g.in_edges(input_id(data["name"], port), keys=True)
                if k == port
            ]
            if found:
                sources[port] = found[0]
                continue
            names = names if names is not None else _global_names(g)
            yield error("E004", _undefined_global(g, ref["text"], names), ref["span"])
        if len(sources) == 2 and sources["x"] == sources["y"]:
            yield error(
                "E005",
                f"cell '{data['name']}' takes '{data['y']['text']}' as both x "
                "and y; a cell needs two distinct predecessors",
                data["y"]["span"],
            )


def _undefined_global(g: nx.MultiDiGraph, text: str, names: list[str]) -> str:
    modality = next((m for m in g.graph["modalities"] if m["name"] == text), None)
    if modality is not None and modality["features"]:
        return (
            f"'{text}' is a modality, not a feature or cell; name one of its features, "
            f"e.g. '{text}.{modality['features'][0]}'"
        )
    return f"undefined reference '{text}'{suggest(text, names)}"


def check_step_operands(g: nx.MultiDiGraph) -> Iterator[Diagnostic]:
    for node in nodes_of_kind(g, "cell"):
        cell = g.nodes[node]["name"]
        for step in cell_steps(g, cell):
            for ref in g.nodes[step]["args"]:
                yield from _check_local_ref(g, cell, ref, "E013", "operand of a step")


def _check_local_ref(
    g: nx.MultiDiGraph, cell: str, ref: dict, code: str, role: str
) -> Iterator[Diagnostic]:
    """A name inside a cell must be x, y or a step of the same cell."""
    text = ref["text"]
    if text in ("x", "y") or step_id(cell, text) in g:
        return
    if feature_id(text) in g or cell_id(text) in g:
        kind = "feature" if feature_id(text) in g else "cell"
        yield error(
            code,
            f"'{text}' is a {kind}; the {role} in cell '{cell}' must be x, y or "
            "a step of the same cell",
            ref["span"],
        )
        return

    def local() -> list[str]:  # O(steps): only for the references that get a hint
        return ["x", "y", *(g.nodes[s]["name"] for s in cell_steps(g, cell))]

    yield error(
        "E004",
        f"undefined reference '{text}' in cell '{cell}'{suggest(text, local)}",
        ref["span"],
    )


def check_outs(g: nx.MultiDiGraph) -> Iterator[Diagnostic]:
    for node in nodes_of_kind(g, "cell"):
        data = g.nodes[node]
        outs = data["outs"]
        if not outs:
            yield error(
                "E012",
                f"cell '{data['name']}' has no `out` statement; end it with `out = STEP, ...`",
                data["name_span"],
            )
            continue
        for repeat in outs[1:]:
            yield error(
                "E012", f"cell '{data['name']}' has more than one `out`", repeat["span"]
            )
        if not data["out_is_last"]:
            yield error(
                "E012",
                f"`out` must be the last statement of cell '{data['name']}'",
                outs[-1]["span"],
            )
        for ref in outs[0]["refs"]:
            if ref["text"] in ("x", "y"):
                yield error(
                    "E012",
                    f"`out` lists '{ref['text']}', which is not a step; list steps of the cell",
                    ref["span"],
                )
            else:
                yield from _check_local_ref(g, data["name"], ref, "E012", "`out` entry")


def check_output(g: nx.MultiDiGraph) -> Iterator[Diagnostic]:
    if g.graph["model"] is None:
        return
    outputs = g.graph["outputs"]
    if not outputs:
        yield error(
            "E012",
            "missing `output CELL, ...`; the model needs an output",
            g.graph["model_span"],
        )
        return
    for repeat in outputs[1:]:
        yield error("E012", "`output` is repeated; give it once", repeat["span"])
    names = None
    for ref in outputs[0]["refs"]:
        if cell_id(ref["text"]) in g:
            continue
        if feature_id(ref["text"]) in g or ref["text"] in ("x", "y"):
            yield error(
                "E012",
                f"`output` lists '{ref['text']}', which is not a cell",
                ref["span"],
            )
            continue
        names = (
            names
            if names is not None
            else [g.nodes[n]["name"] for n in nodes_of_kind(g, "cell")]
        )
        yield error(
            "E004",
            f"undefined cell '{ref['text']}' in `output`{suggest(ref['text'], names)}",
            ref["span"],
        )


def _cycles(
    graph: nx.DiGraph, order: dict[str, int]
) -> Iterator[tuple[list[str], Span]]:
    """One cycle per strongly connected component: the path and the span closing it."""
    for component in nx.strongly_connected_components(graph):
        first = min(component, key=order.__getitem__)
        if len(component) == 1 and not graph.has_edge(first, first):
            continue
        sub = graph.subgraph(component)
        # Walk from the earliest-declared node until the path comes back to it.
        path = [first]
        lengths = nx.single_source_shortest_path(sub.reverse(copy=False), first)
        if graph.has_edge(first, first):
            yield [first, first], graph.edges[first, first]["span"]
            continue
        successor = min(
            (s for s in sub.successors(first) if s in lengths),
            key=lambda s: (len(lengths[s]), order[s]),
        )
        path += list(reversed(lengths[successor]))
        yield path, graph.edges[path[-2], path[-1]]["span"]


def check_cycles(g: nx.MultiDiGraph) -> Iterator[Diagnostic]:
    cells = cell_graph(g)
    order = {g.nodes[n]["name"]: g.nodes[n]["index"] for n in nodes_of_kind(g, "cell")}
    for path, span in _cycles(cells, order):
        yield error("E006", f"cycle among cells: {' -> '.join(path)}", span)
    for cell in order:
        steps = step_graph(g, cell)
        step_order = {
            g.nodes[s]["name"]: g.nodes[s]["index"] for s in cell_steps(g, cell)
        }
        for path, span in _cycles(steps, step_order):
            yield error(
                "E006",
                f"cycle among the steps of cell '{cell}': {' -> '.join(path)}",
                span,
            )


PASSES: tuple[Pass, ...] = (
    check_version,
    check_model_count,
    check_header,
    check_duplicates,
    check_identifiers,
    check_feature_shapes,
    check_ops,
    check_cell_inputs,
    check_step_operands,
    check_outs,
    check_output,
    check_cycles,
)


def validate_and_prune(
    g: nx.MultiDiGraph,
) -> tuple[list[Diagnostic], nx.MultiDiGraph | None]:
    """Every error of the IR and the warnings of pruning, sorted by position, and the
    pruned IR (None when there are errors). Pruning runs once, for both."""
    with suggestion_budget():
        errors = [d for check in PASSES for d in check(g)]
    pruned = None if errors else prune(g)
    diagnostics = errors + expected_unused(g, prune_warnings(g, pruned))
    return sorted(diagnostics, key=Diagnostic.sort_key), pruned


def expected_unused(g: nx.MultiDiGraph, warnings: list[Diagnostic]) -> list[Diagnostic]:
    """The warnings without W004 when the file declares every feature on purpose
    (`declares_all_features = true`); with another value of that key, each W004 says
    why it was not silenced, since only `true` marks the declarations."""
    meta = g.graph.get("meta") or {}
    if DECLARES_ALL_FEATURES not in meta:
        return warnings
    value = meta[DECLARES_ALL_FEATURES]
    if value is True:
        return [w for w in warnings if w.code != "W004"]
    if value is False:
        return warnings
    hint = (
        f" (meta {DECLARES_ALL_FEATURES} is {value!r}; only `true` marks unused "
        "features as expected)"
    )
    return [
        dataclasses.replace(w, message=w.message + hint) if w.code == "W004" else w
        for w in warnings
    ]


def validate(g: nx.MultiDiGraph) -> list[Diagnostic]:
    """Every error of the IR, then the warnings that pruning finds, sorted by position."""
    return validate_and_prune(g)[0]
