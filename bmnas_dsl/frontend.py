"""The front end as one call: text -> AST -> IR -> diagnostics -> pruned IR.

Genotype files are untrusted input (docs/reliability.md): `read_source` refuses files
over MAX_SOURCE_BYTES before decoding them, and every later stage reports problems as
diagnostics instead of raising.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from bmnas_dsl import ast
from bmnas_dsl.ast import Span
from bmnas_dsl.diagnostics import WHOLE_FILE, BmgError, Diagnostic
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


# The largest genotype file read (E015 above it). Time and memory grow linearly with
# the file: `bmnas check` of a valid 15,000-cell genotype of 2.0 MB takes about 11 s and
# 580 MB (docs/reliability.md). A searched genotype is a few KiB; the 10,000-cell
# genotype of benchmarks/frontend.py is 1.3 MiB.
MAX_SOURCE_BYTES = 2 * 1024 * 1024

BOM = "\ufeff"


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


def read_source(path: str | Path) -> str:
    """The file's text, a byte-order mark included (analyse_text drops it, `fmt`
    reports it); BmgError when the file cannot be read (no code), is larger than
    MAX_SOURCE_BYTES (E015) or is not UTF-8 (E001, located)."""
    try:
        with open(path, "rb") as handle:
            # One byte more than the limit tells "too large" without reading a huge file
            # (or an endless one such as /dev/zero) into memory.
            data = handle.read(MAX_SOURCE_BYTES + 1)
            size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise BmgError(
            [Diagnostic("", f"cannot read file: {reason}", Span(1, 1, 1, 1))]
        ) from None
    if len(data) > MAX_SOURCE_BYTES:
        raise BmgError([too_large(size)])
    return decode_source(data)


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


def too_large(size: int) -> Diagnostic:
    """E015 for a file of `size` bytes (its stat size: 0 for a pipe or a device)."""
    actual = f"{size:,} bytes" if size > MAX_SOURCE_BYTES else "more bytes than that"
    return Diagnostic(
        "E015",
        f"file too large: genotype files are limited to {MAX_SOURCE_BYTES:,} bytes "
        f"({MAX_SOURCE_BYTES // 2**20} MiB), this one has {actual}",
        WHOLE_FILE,
    )


def decode_source(data: bytes) -> str:
    """UTF-8 text of a genotype file's bytes; BmgError E001 at the first bad byte."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        # The column counts characters, as the parser's do (the bytes before the bad one
        # decode), and not a leading byte-order mark, which analyse_text drops.
        before = data[data.rfind(b"\n", 0, exc.start) + 1 : exc.start]
        column = len(before.decode("utf-8").removeprefix(BOM)) + 1
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
