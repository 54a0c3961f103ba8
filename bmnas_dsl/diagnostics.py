"""Diagnostics: one error or warning with its code, message and source span."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bmnas_dsl.ast import Span

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    severity: Severity = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def sort_key(self) -> tuple[int, int, str]:
        return (self.span.line, self.span.column, self.code)

    def render(self, path: str, text: str) -> str:
        """`path:line:col: error[E005]: message`, then the source line and a caret."""
        if not self.code:  # about the file as a whole (it cannot be read): no location
            return f"{path}: {self.severity}: {self.message}"
        head = f"{path}:{self.span.line}:{self.span.column}: {self.severity}[{self.code}]: "
        lines = text.splitlines()
        if not 1 <= self.span.line <= len(lines):
            return head + self.message
        source = lines[self.span.line - 1]
        start = min(self.span.column - 1, len(source))
        if self.span.end_line == self.span.line:
            width = max(1, self.span.end_column - self.span.column)
        else:
            width = max(1, len(source) - start)
        # Keep tabs in the padding so the caret lines up under a tab-indented source line.
        padding = "".join(ch if ch == "\t" else " " for ch in source[:start])
        return f"{head}{self.message}\n{source}\n{padding}{'^' * width}"


class BmgError(Exception):
    """Raised when a stage cannot go on; carries the diagnostics that explain why."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics
