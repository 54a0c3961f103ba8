"""Reading genotype source: the size limit (E015) and UTF-8 decoding (E001).

Genotype files are untrusted input (docs/reliability.md): `read_source` refuses files
over MAX_SOURCE_BYTES before decoding them.
"""

from __future__ import annotations

import os
from pathlib import Path

from bmnas_dsl.lang.ast import Span
from bmnas_dsl.lang.diagnostics import WHOLE_FILE, BmgError, Diagnostic

# The largest genotype file read (E015 above it). Time and memory grow linearly with
# the file: `bmnas check` of a valid 15,000-cell genotype of 2.0 MB takes about 11 s and
# 580 MB (docs/reliability.md). A searched genotype is a few KiB; the 10,000-cell
# genotype of benchmarks/frontend.py is 1.3 MiB.
MAX_SOURCE_BYTES = 2 * 1024 * 1024

BOM = "\ufeff"


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
