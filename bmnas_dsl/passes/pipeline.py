"""The front end as one call: text -> AST -> IR -> diagnostics -> pruned IR.

Genotype files are untrusted input (docs/reliability.md): `read_source` refuses files
over MAX_SOURCE_BYTES before decoding them, and every later stage reports problems as
diagnostics instead of raising.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from bmnas_dsl.ir.graph import build_ir
from bmnas_dsl.lang import ast
from bmnas_dsl.lang.diagnostics import BmgError, Diagnostic
from bmnas_dsl.lang.parser import parse
from bmnas_dsl.lang.source import (
    BOM,
    MAX_SOURCE_BYTES,
    decode_source,
    read_source,
    too_large,
)
from bmnas_dsl.passes.validate import validate_and_prune


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

    def errors_only(self) -> Frontend:
        """The analysis with its warnings dropped: what a command that needs a valid
        genotype prints when it refuses one (warnings are `bmnas check`'s job)."""
        errors = [d for d in self.diagnostics if d.is_error]
        return Frontend(self.path, self.text, errors)

    def render_diagnostics(self) -> str:
        lines = self.text.split("\n")  # once for all diagnostics: linear, not quadratic
        return "\n".join(
            d.render(self.path, self.text, lines) for d in self.diagnostics
        )


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
    """Run every front-end stage that the text allows; never raises for bad input.

    A leading byte-order mark is dropped (editors on Windows write one); line ends may
    be LF or CRLF. Spans, and `Frontend.text`, refer to the text without the mark.
    """
    text = text.removeprefix(BOM)
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


def analyse_bytes(data: bytes, path: str = "<bytes>") -> Frontend:
    """analyse_file for bytes already in memory (fuzzers, services): the same size limit
    and decoding, never raises for bad input."""
    try:
        if len(data) > MAX_SOURCE_BYTES:
            raise BmgError([too_large(len(data))])
        text = decode_source(data)
    except BmgError as exc:
        return Frontend(path=path, text="", diagnostics=exc.diagnostics)
    return analyse_text(text, path)


def analyse_file(path: str | Path) -> Frontend:
    try:
        text = read_source(path)
    except BmgError as exc:
        return Frontend(path=str(path), text="", diagnostics=exc.diagnostics)
    return analyse_text(text, str(path))
