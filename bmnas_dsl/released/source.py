"""A released genotype file: a pickle (`best_genotype.pkl`) or text holding the printed
form (one `Genotype(...)` or a whole training log). Told apart by content, not name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Literal

from bmnas_dsl.errors import ReleasedGenotypeError
from bmnas_dsl.released.genotype import Path, Where, path_text
from bmnas_dsl.released.text import START, read_printed
from bmnas_dsl.released.unpickle import load_genotype_pickle

# The largest file read: a long training log prints about 1 KB per epoch; a genotype
# pickle is a few hundred bytes.
MAX_INPUT_BYTES = 64 * 1024 * 1024
# Protocols 2 to 5 start with the PROTO opcode; 0 and 1 end with STOP ('.').
_PROTO, _STOP = b"\x80", b"."


@dataclass(frozen=True)
class ReleasedSource:
    """A genotype read from a released file, before its structure is checked."""

    genotype: object  # stand-ins, as read
    where: Where  # locates a part of it in error messages
    kind: Literal["pickle", "text"]
    line: int | None = None  # text: where the printed form starts
    count: int = 1  # text: how many printed genotypes the file holds
    logged_params: tuple[int, int] | None = None  # text: (line, value)


def read_input(path: str | FilePath) -> bytes:
    """The file's bytes, or ReleasedGenotypeError (cannot read it, too large)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_INPUT_BYTES + 1)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ReleasedGenotypeError(f"cannot read {path}: {reason}") from None
    if len(data) > MAX_INPUT_BYTES:
        raise ReleasedGenotypeError(
            f"{path}: larger than {MAX_INPUT_BYTES // 2**20} MiB, which no genotype "
            "file or training log is"
        )
    return data


def load_released(data: bytes, source: str, index: int | None = None) -> ReleasedSource:
    """The genotype in `data` (the content of `source`): a pickle when it starts with
    the protocol 2-5 header, text when it holds a printed `Genotype(`, else a protocol
    0/1 pickle when it ends with STOP; `index` chooses among printed forms."""
    if data.startswith(_PROTO):
        return _pickle(data, source, index)
    try:
        text = data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        text = None  # protocol 1 is binary
    if text is not None and START.search(text):
        printed = read_printed(text, source, index)
        return ReleasedSource(
            printed.genotype,
            lambda path: printed.where(source, path),
            "text",
            printed.line,
            printed.count,
            printed.logged_params,
        )
    if data.rstrip().endswith(_STOP):
        return _pickle(data, source, index)
    raise ReleasedGenotypeError(
        f"{source}: neither a genotype pickle nor text holding a printed Genotype(...)"
    )


def _pickle(data: bytes, source: str, index: int | None) -> ReleasedSource:
    if index is not None:
        raise ReleasedGenotypeError(
            f"{source}: --index chooses among printed genotypes, and this file is a "
            "pickle (it holds one)"
        )

    def where(path: Path) -> str:
        return f"{source}: {path_text(path)}"

    return ReleasedSource(load_genotype_pickle(data, source), where, "pickle")
