"""Diagnostics: one error or warning with its code, message and source span."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from bmnas_dsl.errors import BmnasError
from bmnas_dsl.lang.ast import Span

Severity = Literal["error", "warning"]

# The span of a diagnostic about the file as a whole (too large to read): no location.
WHOLE_FILE = Span(0, 0, 0, 0)

# A rendered diagnostic stays readable however long the line or the name it is about:
# the echoed source line is cut to a window around the caret, and a quoted name in the
# message to its two ends (a 1 MB identifier must not make a 1 MB error line). Quoted
# names hold no white space, which keeps the prose between two quoted names unmatched.
MAX_SHOWN_COLUMNS = 160
MAX_QUOTED_CHARS = 80
_QUOTED = re.compile(rf"'([^'\s]{{{MAX_QUOTED_CHARS + 1},}})'")


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

    def render(self, path: str, text: str, lines: Sequence[str] | None = None) -> str:
        """`path:line:col: error[E005]: message`, then the source line and a caret.

        `lines` is `text.split("\n")`, computed once by callers that render many
        diagnostics of one text (splitting per diagnostic would be quadratic).
        """
        message = shorten_quoted(self.message)
        if not self.code or self.span.line < 1:  # about the whole file: no location
            code = f"[{self.code}]" if self.code else ""
            return f"{path}: {self.severity}{code}: {message}"
        head = f"{path}:{self.span.line}:{self.span.column}: {self.severity}[{self.code}]: "
        # Lines as the lexer counts them: only "\n" ends a line. str.splitlines() would
        # also split at form feeds, U+2028, U+0085 ..., and show the wrong line.
        if lines is None:
            lines = text.split("\n")
        if not 1 <= self.span.line <= len(lines):
            return head + message
        source = lines[self.span.line - 1].removesuffix("\r")
        start = min(self.span.column - 1, len(source))
        if self.span.end_line == self.span.line:
            width = max(1, self.span.end_column - self.span.column)
        else:
            width = max(1, len(source) - start)
        source, start, width = _window(source, start, width)
        # Keep tabs in the padding so the caret lines up under a tab-indented source line.
        padding = "".join(ch if ch == "\t" else " " for ch in source[:start])
        return f"{head}{message}\n{printable(source)}\n{padding}{'^' * width}"


def shorten_quoted(message: str) -> str:
    """The message with each quoted text over MAX_QUOTED_CHARS cut in the middle."""

    def cut(match: re.Match[str]) -> str:
        quoted = match.group(1)
        return f"'{quoted[:60]}...{quoted[-12:]}' ({len(quoted):,} characters)"

    return _QUOTED.sub(cut, message)


def _window(source: str, start: int, width: int) -> tuple[str, int, int]:
    """At most MAX_SHOWN_COLUMNS characters of `source` around the caret, with `...`
    where the line was cut, and the caret's new start and width."""
    if len(source) <= MAX_SHOWN_COLUMNS:
        return source, start, width
    left = max(0, min(start - 40, len(source) - MAX_SHOWN_COLUMNS))
    right = left + MAX_SHOWN_COLUMNS
    prefix = "..." if left else ""
    shown = prefix + source[left:right] + ("..." if right < len(source) else "")
    caret = start - left + len(prefix)
    return shown, caret, max(1, min(width, right - start))


def printable(line: str) -> str:
    """The line with every control or invisible formatting character replaced by U+FFFD.

    An echoed source line goes to the user's terminal: a comment holding ANSI escape
    sequences, a carriage return or bidirectional overrides ("Trojan Source") must not
    be able to recolour, overwrite or reorder what is shown. One character for one keeps
    the caret aligned. Tabs stay (the caret padding reproduces them).
    """
    if line.isprintable():  # the common case, without a Python-level loop
        return line
    return "".join(
        ch
        if ch == "\t" or ch == " " or unicodedata.category(ch) not in _HIDDEN
        else "\ufffd"
        for ch in line
    )


# Control, format (bidi overrides, zero-width), line and paragraph separators,
# surrogates, unassigned and private code points, and spaces other than " ".
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Cn", "Co", "Zs"})


class BmgError(BmnasError):
    """Raised when a stage cannot go on; carries the diagnostics that explain why."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__("; ".join(d.message for d in diagnostics))
        self.diagnostics = diagnostics
