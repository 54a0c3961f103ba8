"""The source of the classes in bmnas_dsl/nn/layers.py, for copying into generated modules."""

from __future__ import annotations

import ast
import functools
from importlib import resources


@functools.cache
def _classes() -> tuple[dict[str, str], dict[str, set[str]], list[str]]:
    """Each top-level class's or function's source, the ones it uses, and the file order."""
    text = (
        resources.files("bmnas_dsl.nn")
        .joinpath("layers.py")
        .read_text(encoding="utf-8")
    )
    tree = ast.parse(text)
    sources: dict[str, str] = {}
    uses: dict[str, set[str]] = {}
    order: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            sources[node.name] = ast.get_source_segment(text, node) or ""
            uses[node.name] = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            order.append(node.name)
    for name in uses:
        uses[name] &= set(sources) - {name}
    return sources, uses, order


def layer_source(names: set[str]) -> str:
    """Source of the named classes and everything they use, in layers.py order."""
    sources, uses, order = _classes()
    needed: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(uses[name])
    return "\n\n\n".join(sources[name] for name in order if name in needed)
