"""Plain AST nodes of a .bmg file, as the parser builds them.

Nodes are frozen dataclasses. Source spans and comments are trivia: they are excluded from
equality, so `parse(fmt(t)) == parse(t)` compares what the text means, not where it sits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The tasks a model may declare (`task` statement; docs/language.md). Banks, the search
# space and validation all check against this one tuple.
TASKS = ("multiclass", "multilabel")


@dataclass(frozen=True, order=True)
class Span:
    """A source range: 1-based line and column of the start, end exclusive, plus offsets."""

    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0
    end: int = 0

    def to_json(self) -> list[int]:
        return [self.line, self.column, self.end_line, self.end_column]


NO_SPAN = Span(1, 1, 1, 1)


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)


@dataclass(frozen=True)
class Comment:
    text: str
    span: Span
    trailing: bool  # written after a statement on the same line


@dataclass(frozen=True)
class Ref:
    """A reference such as `x`, `s1`, `c2` or `video.layer4`."""

    parts: tuple[str, ...]
    span: Span = _span()

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass(frozen=True)
class Version:
    value: int
    span: Span = _span()


@dataclass(frozen=True)
class DimEntry:
    name: str
    value: int
    span: Span = _span()


@dataclass(frozen=True)
class Dims:
    entries: tuple[DimEntry, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Classes:
    value: int
    span: Span = _span()


@dataclass(frozen=True)
class Task:
    name: str
    span: Span = _span()


@dataclass(frozen=True)
class Dropout:
    value: float
    text: str  # kept so that the formatter does not respell `1e-3` as `0.001`
    span: Span = _span()


MetaValue = str | int | float | bool


@dataclass(frozen=True)
class MetaEntry:
    key: str
    value: MetaValue
    text: str  # source spelling of the value (numbers keep their form)
    span: Span = _span()


@dataclass(frozen=True)
class Meta:
    entries: tuple[MetaEntry, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Feature:
    name: str
    shape: tuple[int, ...]
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Modality:
    name: str
    features: tuple[Feature, ...]
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class Step:
    name: str
    op: str
    args: tuple[Ref, ...]
    span: Span = _span()
    name_span: Span = _span()
    op_span: Span = _span()


@dataclass(frozen=True)
class Out:
    refs: tuple[Ref, ...]
    span: Span = _span()


CellItem = Step | Out


@dataclass(frozen=True)
class Cell:
    name: str
    x: Ref
    y: Ref
    items: tuple[CellItem, ...]  # steps and `out` statements in source order
    span: Span = _span()
    name_span: Span = _span()

    @property
    def steps(self) -> tuple[Step, ...]:
        return tuple(item for item in self.items if isinstance(item, Step))

    @property
    def outs(self) -> tuple[Out, ...]:
        return tuple(item for item in self.items if isinstance(item, Out))


@dataclass(frozen=True)
class Output:
    refs: tuple[Ref, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Model:
    name: str
    # Header statements are kept as tuples so that repeats survive to validation (E009);
    # their relative order is not meaningful (the canonical form fixes it).
    dims: tuple[Dims, ...] = ()
    classes: tuple[Classes, ...] = ()
    task: tuple[Task, ...] = ()
    dropout: tuple[Dropout, ...] = ()
    meta: tuple[Meta, ...] = ()
    modalities: tuple[Modality, ...] = ()
    cells: tuple[Cell, ...] = ()
    outputs: tuple[Output, ...] = ()
    span: Span = _span()
    name_span: Span = _span()


@dataclass(frozen=True)
class File:
    version: Version | None
    models: tuple[Model, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False, repr=False)
