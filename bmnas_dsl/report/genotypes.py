"""What `bmnas report` says about the genotype of a run: whether two runs hold the same
one (a training run paired with the search that wrote its genotype), its parameter
count, and the genotype in one line for a table. Front end only: no torch."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bmnas_dsl.errors import ReportError
from bmnas_dsl.lang import ast
from bmnas_dsl.lang.formatter import format_file
from bmnas_dsl.passes.params import count_params
from bmnas_dsl.passes.pipeline import Frontend, analyse_text


def analysed(text: str, path: Path) -> Frontend:
    """The valid genotype `text` (read from `path`, named in errors); ReportError with
    its located errors otherwise."""
    result = analyse_text(text, str(path))
    if not result.ok or result.tree is None or result.pruned is None:
        raise ReportError(
            f"{path}: not a valid genotype:\n"
            + result.errors_only().render_diagnostics()
        )
    return result


def canonical(result: Frontend) -> str:
    """The genotype as `bmnas fmt` prints it, without its comments: two files are the
    same genotype when these agree. The meta block counts (it says which search and
    epoch a searched genotype comes from, so two seeds that found the same cells stay
    apart); comments and layout do not."""
    assert result.tree is not None
    return format_file(dataclasses.replace(result.tree, comments=()))


def network(result: Frontend) -> str:
    """The canonical text without the meta block either: what the network is."""
    assert result.tree is not None
    models = tuple(dataclasses.replace(m, meta=()) for m in result.tree.models)
    return format_file(dataclasses.replace(result.tree, models=models, comments=()))


def difference(a: Frontend, b: Frontend) -> str:
    """What differs between two genotypes, for a message: the first line (of the
    canonical text) where their networks differ, or that only their meta blocks do."""
    left, right = network(a), network(b)
    if left != right:
        return f"the networks differ: {first_difference(left, right)}"
    where = first_difference(canonical(a), canonical(b))
    return f"the same network, other meta entries: {where}"


def first_difference(a: str, b: str) -> str:
    """The first line where two canonical texts differ: `'A' vs 'B'`."""
    left, right = a.splitlines(), b.splitlines()
    for x, y in zip(left, right, strict=False):
        if x != y:
            return f"{x.strip()!r} vs {y.strip()!r}"
    if len(left) > len(right):
        return f"{left[len(right)].strip()!r} vs nothing"
    return f"nothing vs {right[len(left)].strip()!r}"


def parameters(result: Frontend) -> int:
    """The pruned network's parameter count, as `bmnas info` gives it (and training
    counts it)."""
    assert result.pruned is not None
    return count_params(result.pruned)["total"]


def one_line(result: Frontend) -> str:
    """The cells and the head in one line, as written (before pruning):
    `c1(a.f1, b.f2){s1=Sum(x,y) out=s1} c2(c1, a.f3){...} output=c1,c2`."""
    assert result.tree is not None
    model = result.tree.models[0]

    def refs(items: tuple[ast.Ref, ...]) -> str:
        return ",".join(r.text for r in items)

    cells = []
    for cell in model.cells:
        body = [f"{s.name}={s.op}({refs(s.args)})" for s in cell.steps]
        body += [f"out={refs(o.refs)}" for o in cell.outs]
        cells.append(f"{cell.name}({cell.x.text}, {cell.y.text}){{{' '.join(body)}}}")
    heads = [f"output={refs(o.refs)}" for o in model.outputs]
    return " ".join(cells + heads)
