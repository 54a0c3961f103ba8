"""The front end as one call: text -> AST -> IR -> diagnostics -> pruned IR."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from bmnas_dsl import ast
from bmnas_dsl.ast import Span
from bmnas_dsl.diagnostics import BmgError, Diagnostic
from bmnas_dsl.ir import build_ir
from bmnas_dsl.parser import parse
from bmnas_dsl.validate import validate_and_prune


@dataclass
class Frontend:
    path: str
    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    tree: ast.File | None = None
    ir: nx.MultiDiGraph | None = None
    pruned: nx.MultiDiGraph | None = None

    @property
    def ok(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    def render_diagnostics(self) -> str:
        return "\n".join(d.render(self.path, self.text) for d in self.diagnostics)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one analysis.

    The parse tree and the IR are a million objects for a 10,000-cell file, and every full
    collection walks all of them: with the collector on, the per-cell cost grew 1.85x from
    1,000 to 10,000 cells; paused, 1.2x (benchmarks/frontend.py). The cycles made here are
    collected as usual once the collector runs again.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def analyse_text(text: str, path: str = "<string>") -> Frontend:
    """Run every front-end stage that the text allows; never raises for bad input."""
    with _collector_paused():
        return _analyse(text, path)


def _analyse(text: str, path: str) -> Frontend:
    result = Frontend(path=path, text=text)
    try:
        result.tree = parse(text)
    except BmgError as exc:
        result.diagnostics = exc.diagnostics
        return result
    result.ir = build_ir(result.tree, source=path)
    result.diagnostics, result.pruned = validate_and_prune(result.ir)
    return result


def read_source(path: str | Path) -> str:
    """The file's text; BmgError when it cannot be read (no code) or is not UTF-8 (E001)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise BmgError(
            [Diagnostic("", f"cannot read file: {reason}", Span(1, 1, 1, 1))]
        ) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        message = f"file is not UTF-8 text (byte 0x{data[exc.start]:02x})"
        raise BmgError(
            [Diagnostic("E001", message, Span(line, column, line, column + 1))]
        ) from None


def analyse_file(path: str | Path) -> Frontend:
    try:
        text = read_source(path)
    except BmgError as exc:
        return Frontend(path=str(path), text="", diagnostics=exc.diagnostics)
    return analyse_text(text, str(path))
