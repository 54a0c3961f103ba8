"""Read the printed `Genotype(...)` form of the released code, never evaluating it.

The released training scripts log `str(genotype)` every epoch, e.g.

    12/03 10:25:54 PM Fusion Model Params: 532416
    12/03 10:25:54 PM Genotype(edges=[('skip', 0), ('skip', 4), ...], steps=[...], ...)

A file may hold one such form or a whole log. The chosen one (the last by default) is
cut out of the text by bracket matching, parsed by `ast.parse`, and its syntax tree
walked: only lists, tuples, strings, integers (a leading minus included),
`range(INT, INT[, INT])`, `Genotype(...)` and `StepGenotype(...)` calls with their
field names are read. Any other node (a name, an attribute, any other call) is refused
where it stands. Positions are kept, so later checks can name `FILE:LINE:COL`.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from bmnas_dsl.errors import ReleasedGenotypeError
from bmnas_dsl.released.genotype import NAMEDTUPLES, Path, bounded_range, path_text

# Not StepGenotype( nor any other name ending in "Genotype": a qualified
# `genotypes.Genotype(` is fine, the match then starts at `Genotype`.
START = re.compile(r"(?<![A-Za-z0-9_])Genotype\(")
# The released log's count of reshape layers + fusion network, printed before the
# genotype of the same epoch.
LOGGED_PARAMS = re.compile(r"Fusion Model Params:\s*(\d{1,15})\b")
# A printed genotype is about 250 characters per cell; far longer is not one.
MAX_FORM_CHARS = 1_000_000
_OPENING, _CLOSING = "([{", ")]}"


@dataclass(frozen=True)
class PrintedGenotype:
    """One printed genotype of a text, as stand-ins, with where each part stands."""

    genotype: object  # a Genotype stand-in (checked by genotype.check_structure)
    line: int  # where `Genotype(` starts, 1-based
    column: int
    count: int  # how many printed genotypes the text holds
    positions: dict[Path, tuple[int, int]]  # (line, column) of each part, 1-based
    logged_params: tuple[int, int] | None  # (line, value) of the epoch's params line

    def where(self, source: str, path: Path) -> str:
        """`FILE:LINE:COL: steps[1].inner_edges[2]`, at the closest part known."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.positions:
                line, column = self.positions[path[:end]]
                return f"{source}:{line}:{column}: {path_text(path)}"
        return f"{source}:{self.line}:{self.column}: {path_text(path)}"


def read_printed(text: str, source: str, index: int | None = None) -> PrintedGenotype:
    """The `index`-th printed genotype of `text` (1 = first, -1 = last; default last),
    as stand-ins; ReleasedGenotypeError, located, when there is none, it is not closed,
    it does not parse, or it holds anything but the literals listed above."""
    starts = [match.start() for match in START.finditer(text)]
    if not starts:
        raise ReleasedGenotypeError(
            f"{source}: no printed Genotype(...) found (nor is it a pickle)"
        )
    chosen = _choose(starts, index, source)
    start = starts[chosen]
    line, column = _line_column(text, start)
    end = _closing(text, start + len("Genotype"))
    if end is None:
        raise ReleasedGenotypeError(
            f"{source}:{line}:{column}: this Genotype( is never closed (a truncated "
            f"log?), or longer than {MAX_FORM_CHARS:,} characters"
        )
    form = text[start:end]
    tree = _parse(form, source, line, column)
    walker = _Walker(form, source, line, column)
    genotype = walker.value(tree.body, ())
    previous = starts[chosen - 1] if chosen > 0 else 0
    return PrintedGenotype(
        genotype=genotype,
        line=line,
        column=column,
        count=len(starts),
        positions=walker.positions,
        logged_params=_logged_params(text, previous, start),
    )


def _choose(starts: list[int], index: int | None, source: str) -> int:
    count = len(starts)
    if index is None:
        return count - 1
    if index == 0 or not -count <= index <= count:
        raise ReleasedGenotypeError(
            f"{source}: --index {index} is not one of its {count} printed genotype(s) "
            f"(1..{count} from the first, -1..-{count} from the last)"
        )
    return index - 1 if index > 0 else count + index


def _line_column(text: str, offset: int) -> tuple[int, int]:
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def _closing(text: str, open_at: int) -> int | None:
    """The offset just past the bracket that closes text[open_at] (a `(`), skipping
    strings; None when the text ends first or the form grows too long."""
    depth, i, limit = 0, open_at, min(len(text), open_at + MAX_FORM_CHARS)
    while i < limit:
        char = text[i]
        if char in "'\"":
            i = _string_end(text, i, limit)
            continue
        if char in _OPENING:
            depth += 1
        elif char in _CLOSING:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _string_end(text: str, i: int, limit: int) -> int:
    """Past the one-line string literal starting at text[i] (or at its line end)."""
    quote, i = text[i], i + 1
    while i < limit and text[i] not in (quote, "\n"):
        i += 2 if text[i] == "\\" else 1
    return i + 1


def _parse(form: str, source: str, line: int, column: int) -> ast.Expression:
    try:
        return ast.parse(form, mode="eval")
    except SyntaxError as exc:
        where_line = line + (exc.lineno or 1) - 1
        where_column = (column if (exc.lineno or 1) == 1 else 0) + (exc.offset or 1)
        raise ReleasedGenotypeError(
            f"{source}:{where_line}:{where_column}: not a printed genotype: {exc.msg}"
        ) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, deep nesting
        raise ReleasedGenotypeError(
            f"{source}:{line}:{column}: not a printed genotype: "
            f"{str(exc) or type(exc).__name__}"
        ) from None


def _logged_params(text: str, after: int, before: int) -> tuple[int, int] | None:
    """The last `Fusion Model Params: N` between the previous genotype and this one."""
    found = None
    for match in LOGGED_PARAMS.finditer(text, after, before):
        found = match
    if found is None:
        return None
    return _line_column(text, found.start())[0], int(found.group(1))


class _Walker:
    """Syntax tree -> stand-ins, refusing every node that is not a literal we read."""

    def __init__(self, form: str, source: str, line: int, column: int) -> None:
        self.lines = form.split("\n")
        self.source, self.line, self.column = source, line, column
        self.positions: dict[Path, tuple[int, int]] = {}

    def position(self, node: ast.AST) -> tuple[int, int]:
        """(line, column) in the file, 1-based; ast counts columns in UTF-8 bytes."""
        lineno, offset = node.lineno, node.col_offset  # type: ignore[attr-defined]
        prefix = self.lines[lineno - 1].encode("utf-8")[:offset]
        column = len(prefix.decode("utf-8", errors="ignore")) + 1
        if lineno == 1:
            column += self.column - 1
        return self.line + lineno - 1, column

    def refuse(self, node: ast.AST, message: str) -> ReleasedGenotypeError:
        line, column = self.position(node)
        return ReleasedGenotypeError(f"{self.source}:{line}:{column}: {message}")

    def value(self, node: ast.expr, path: Path) -> object:
        self.positions[path] = self.position(node)
        if isinstance(node, ast.Constant) and type(node.value) in (str, int):
            return node.value
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and type(node.operand.value) is int
        ):
            return -node.operand.value
        if isinstance(node, ast.List):
            return [self.value(item, (*path, i)) for i, item in enumerate(node.elts)]
        if isinstance(node, ast.Tuple):
            return tuple(
                self.value(item, (*path, i)) for i, item in enumerate(node.elts)
            )
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            if node.func.id in NAMEDTUPLES:
                return self.namedtuple(node, node.func.id, path)
            if node.func.id == "range":
                return self.range(node)
        raise self.refuse(
            node,
            f"{_described(node)} cannot appear in a released genotype; only lists, "
            "tuples, strings, integers, range(...), Genotype(...) and "
            "StepGenotype(...) are read (nothing is evaluated)",
        )

    def namedtuple(self, node: ast.Call, name: str, path: Path) -> object:
        cls = NAMEDTUPLES[name]
        fields: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
        if len(node.args) > len(fields):
            raise self.refuse(
                node,
                f"{name}(...) has {len(node.args)} positional values for its "
                f"{len(fields)} fields ({', '.join(fields)})",
            )
        given: dict[str, ast.expr] = {}
        for field, item in zip(fields, node.args, strict=False):
            if isinstance(item, ast.Starred):
                raise self.refuse(item, f"{name}(...) with *arguments")
            given[field] = item
        for keyword in node.keywords:
            if keyword.arg is None:
                raise self.refuse(keyword.value, f"{name}(...) with **arguments")
            if keyword.arg not in fields:
                raise self.refuse(
                    keyword.value,
                    f"{name}(...) has no field {keyword.arg!r} (its fields: "
                    f"{', '.join(fields)})",
                )
            if keyword.arg in given:
                raise self.refuse(
                    keyword.value, f"{name}(...) gives {keyword.arg} twice"
                )
            given[keyword.arg] = keyword.value
        missing = [field for field in fields if field not in given]
        if missing:
            raise self.refuse(node, f"{name}(...) lacks {', '.join(missing)}")
        return cls(
            **{field: self.value(given[field], (*path, field)) for field in fields}
        )

    def range(self, node: ast.Call) -> list[int]:
        bounds = []
        for item in node.args:
            if not (isinstance(item, ast.Constant) and type(item.value) is int):
                raise self.refuse(item, "range(...) takes integers only")
            bounds.append(item.value)
        if node.keywords or not 1 <= len(bounds) <= 3:
            raise self.refuse(node, "range(...) takes one to three integers")
        try:
            return bounded_range(bounds)
        except ValueError as exc:  # a zero step, or too many values
            raise self.refuse(node, f"range(...): {exc}") from None


def _described(node: ast.AST) -> str:
    """What a refused node is, in a few words (never its whole text)."""
    if isinstance(node, ast.Name):
        return f"the name {node.id!r}"
    if isinstance(node, ast.Call):
        return f"a call of {_short(ast.unparse(node.func))!r}"
    if isinstance(node, ast.Attribute):
        return f"the attribute {node.attr!r}"
    if isinstance(node, ast.Constant):
        return f"the constant {_short(repr(node.value))}"
    return f"an expression ({type(node).__name__})"


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."
