"""The .bmg parser: a cached Lark LALR parser and a Transformer that builds AST nodes.

Nothing but tree building happens here; every semantic check lives in `validate`.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import unicodedata
from pathlib import Path

import lark
from lark import Lark, Token, Transformer, v_args
from lark.exceptions import (
    UnexpectedCharacters,
    UnexpectedEOF,
    UnexpectedInput,
    UnexpectedToken,
)

from bmnas_dsl.lang import ast
from bmnas_dsl.lang.ast import Span
from bmnas_dsl.lang.diagnostics import BmgError, Diagnostic
from bmnas_dsl.resources import grammar_text
from bmnas_dsl.version import __version__

SUPPORTED_VERSION = 1

# Integers of more digits than this are out of every valid range anyway; clamping keeps
# int() away from Python's quadratic/limited conversion of huge digit strings.
_MAX_INT_DIGITS = 19
_CLAMPED_INT = 10**_MAX_INT_DIGITS

# White space and comments as the grammar has them (common.WS, COMMENT), then the
# version line. Matched one piece at a time from the start of the file: one regex
# `(?:\s|#[^\n]*)*bmg` backtracks exponentially on a line like `# # # # ...` (2**n
# ways to split it into comments): 18 hashes took 20 s.
_SKIP = re.compile(r"[ \t\f\r\n]+|#[^\n]*")
_VERSION_LINE = re.compile(r"bmg[ \t\f\r\n]+(-?[0-9]+)\b")

# How terminals are named in "expected ..." messages.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "NUMBER": "a number",
    "STRING": "a string",
    "$END": "end of file",
}


def cache_path() -> Path | None:
    """Where Lark keeps the analysed grammar between runs (a user-private directory).

    Building the LALR tables costs about 20 ms per process; the cache makes `bmnas check`
    start faster. Set BMNAS_PARSER_CACHE=0 to disable it.
    """
    if os.environ.get("BMNAS_PARSER_CACHE", "1") == "0":
        return None
    root = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bmnas"
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(root, os.W_OK):
        return None
    path = root / f"bmg-lark-{lark.__version__}-{__version__}.cache"
    # Lark reads its cache with pickle: only a file that nobody else can have written
    # may be loaded, so the folder and the file must be the user's and not writable by
    # group or others. Otherwise the grammar is built afresh (about 20 ms).
    for item in (root, path):
        if item.exists() and not _private(item):
            return None
    return path


def _private(path: Path) -> bool:
    info = path.stat()
    return info.st_uid == os.getuid() and not info.st_mode & 0o022


@functools.cache
def _lark() -> Lark:
    # A stale or unwritable cache is harmless (Lark rebuilds); keep its log quiet so that
    # no traceback ever reaches the user.
    logging.getLogger("lark").setLevel(logging.CRITICAL)
    cache = cache_path()
    return Lark(
        grammar_text(),
        parser="lalr",
        lexer="contextual",
        propagate_positions=True,
        maybe_placeholders=True,
        cache=str(cache) if cache else False,
    )


def _span_of(meta_or_token: object) -> Span:
    m = meta_or_token
    return Span(m.line, m.column, m.end_line, m.end_column, m.start_pos, m.end_pos)  # type: ignore[attr-defined]


def _to_int(token: Token) -> int:
    text = str(token)
    digits = text.lstrip("-")
    if len(digits) > _MAX_INT_DIGITS:
        return -_CLAMPED_INT if text.startswith("-") else _CLAMPED_INT
    return int(text)


def _unescape(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


@v_args(meta=True)
class _Builder(Transformer):
    """Turns the Lark tree into `bmnas_dsl.lang.ast` nodes."""

    def start(self, meta, children):
        version = (
            children[0] if children and isinstance(children[0], ast.Version) else None
        )
        models = tuple(c for c in children if isinstance(c, ast.Model))
        return ast.File(version=version, models=models)

    def version(self, meta, children):
        return ast.Version(_to_int(children[0]), _span_of(meta))

    def model(self, meta, children):
        name, *items = children
        groups: dict[type, list] = {}
        for item in items:
            groups.setdefault(type(item), []).append(item)

        def of(kind: type) -> tuple:
            return tuple(groups.get(kind, ()))

        return ast.Model(
            name=str(name),
            dims=of(ast.Dims),
            classes=of(ast.Classes),
            task=of(ast.Task),
            dropout=of(ast.Dropout),
            meta=of(ast.Meta),
            modalities=of(ast.Modality),
            cells=of(ast.Cell),
            outputs=of(ast.Output),
            span=_span_of(meta),
            name_span=_span_of(name),
        )

    def dims(self, meta, children):
        return ast.Dims(tuple(children), _span_of(meta))

    def dim(self, meta, children):
        name, value = children
        return ast.DimEntry(str(name), _to_int(value), _span_of(meta))

    def classes(self, meta, children):
        return ast.Classes(_to_int(children[0]), _span_of(meta))

    def task(self, meta, children):
        return ast.Task(str(children[0]), _span_of(meta))

    def dropout(self, meta, children):
        token = children[0]
        return ast.Dropout(float(token), str(token), _span_of(meta))

    def meta(self, meta, children):
        return ast.Meta(tuple(children), _span_of(meta))

    def meta_entry(self, meta, children):
        key, (value, text) = children
        return ast.MetaEntry(str(key), value, text, _span_of(meta))

    def meta_string(self, meta, children):
        return (_unescape(str(children[0])), str(children[0]))

    def meta_number(self, meta, children):
        text = str(children[0])
        is_int = re.fullmatch(r"-?[0-9]+", text) is not None
        return (_to_int(children[0]) if is_int else float(text), text)

    def meta_true(self, meta, children):
        return (True, "true")

    def meta_false(self, meta, children):
        return (False, "false")

    def modality(self, meta, children):
        name, *features = children
        return ast.Modality(str(name), tuple(features), _span_of(meta), _span_of(name))

    def feature(self, meta, children):
        name, *dims = children
        shape = tuple(_to_int(d) for d in dims if d is not None)
        return ast.Feature(str(name), shape, _span_of(meta), _span_of(name))

    def cell(self, meta, children):
        name, x, y, *items = children
        return ast.Cell(str(name), x, y, tuple(items), _span_of(meta), _span_of(name))

    def step(self, meta, children):
        name, op, *args = children
        return ast.Step(
            name=str(name),
            op=str(op),
            args=tuple(a for a in args if a is not None),
            span=_span_of(meta),
            name_span=_span_of(name),
            op_span=_span_of(op),
        )

    def out(self, meta, children):
        return ast.Out(tuple(children[1:]), _span_of(meta))

    def output(self, meta, children):
        return ast.Output(tuple(children), _span_of(meta))

    def ref(self, meta, children):
        return ast.Ref(tuple(str(c) for c in children), _span_of(meta))


_BUILDER = _Builder()


def parse(text: str) -> ast.File:
    """Parse .bmg text into an AST; raise BmgError (E001 / E002) when that is impossible."""
    _refuse_other_versions(text)
    try:
        tree = _lark().parse(text)
    except UnexpectedInput as exc:
        raise BmgError([_syntax_diagnostic(exc, text)]) from None
    file = _BUILDER.transform(tree)
    return ast.File(file.version, file.models, comments=scan_comments(text))


def _refuse_other_versions(text: str) -> None:
    """A file for another language version is refused before its syntax is judged."""
    position = 0
    while skipped := _SKIP.match(text, position):
        position = skipped.end()
    match = _VERSION_LINE.match(text, position)
    if match is None or match.group(1).lstrip("-").lstrip("0") == "1":
        return
    start = match.start(1)
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    end_column = column + len(match.group(1))
    span = Span(line, column, line, end_column, start, match.end(1))
    number = match.group(1)
    if len(number) > 20:  # a million digits are not worth repeating
        number = f"{number[:10]}...{number[-4:]} ({len(number):,} digits)"
    message = (
        f"unsupported bmg version {number}; this bmnas reads version "
        f"{SUPPORTED_VERSION} (`bmg {SUPPORTED_VERSION}`)"
    )
    raise BmgError([Diagnostic("E002", message, span)])


def _describe_expected(names: set[str] | frozenset[str]) -> str:
    lark = _lark()
    words = set()
    for name in names:
        if name in _TERMINAL_WORDS:
            words.add(_TERMINAL_WORDS[name])
            continue
        try:
            pattern = lark.get_terminal(name).pattern
        except KeyError:
            words.add(name)
            continue
        if pattern.type == "str":
            words.add(f"'{pattern.value}'")
        else:
            words.add(name.lower())
    return ", ".join(sorted(words))


def _syntax_diagnostic(exc: UnexpectedInput, text: str) -> Diagnostic:
    if isinstance(exc, UnexpectedEOF) or (
        isinstance(exc, UnexpectedToken) and exc.token.type == "$END"
    ):
        offset = len(text)
        line = text.count("\n") + 1
        column = offset - (text.rfind("\n") + 1) + 1
        span = Span(line, column, line, column + 1, offset, offset)
        expected = _describe_expected(exc.expected)
        return Diagnostic("E001", f"unexpected end of file; expected {expected}", span)
    if isinstance(exc, UnexpectedToken):
        token = exc.token
        if token.end_pos is not None and token.line == token.end_line:
            lookalike = _non_ascii_word(
                text, token.start_pos or 0, token.line, token.column
            )
            if lookalike is not None:
                return lookalike
        span = Span(
            token.line,
            token.column,
            token.end_line or token.line,
            token.end_column or token.column + 1,
            token.start_pos or 0,
            token.end_pos or 0,
        )
        expected = _describe_expected(exc.expected)
        return Diagnostic(
            "E001", f"unexpected {_show(str(token))}; expected {expected}", span
        )
    if isinstance(exc, UnexpectedCharacters):
        return _character_diagnostic(exc, text)
    span = Span(getattr(exc, "line", 1) or 1, getattr(exc, "column", 1) or 1, 1, 1)
    return Diagnostic("E001", f"syntax error: {exc}", span)


# The run of word characters around a lexing error: a look-alike letter (Cyrillic
# U+0430 for Latin 'a') sits in a word that the lexer may refuse from its first letter.
_WORD = re.compile(r"\w+")


def _character_diagnostic(exc: UnexpectedCharacters, text: str) -> Diagnostic:
    """E001 at a character that no token can start with."""
    position, line, column = exc.pos_in_stream, exc.line, exc.column
    lookalike = _non_ascii_word(text, position, line, column)
    if lookalike is not None:
        return lookalike
    allowed = _describe_expected(exc.allowed or set())
    hint = f"; expected {allowed}" if allowed else ""
    char = text[position] if position < len(text) else ""
    span = Span(line, column, line, column + 1, position, position)
    return Diagnostic("E001", f"unexpected character {_describe(char)}{hint}", span)


def _non_ascii_word(
    text: str, position: int, line: int, column: int
) -> Diagnostic | None:
    """E001 at the first non-ASCII character of the word at `position`, if it has one.

    Names and keywords are ASCII only. The lexer may stop at such a word's first letter
    (`classes` with a Cyrillic U+0430 lexes as the NAME `cl`, which the parser then
    refuses): the user is told which character is wrong, not that `cl` is unexpected.
    """
    word = _WORD.match(text, position)
    if word is None or word.group().isascii():
        return None
    offset = next(i for i, ch in enumerate(word.group()) if not ch.isascii())
    # Show the whole word, with any ASCII letters just before `position` (`c` of
    # `c\u04301` is a complete NAME token); identifiers are short, so look back a bit.
    start = position
    while start > max(0, position - 64) and _WORD.match(text[start - 1]):
        start -= 1
    where = position + offset
    span = Span(line, column + offset, line, column + offset + 1, where, where + 1)
    return Diagnostic(
        "E001",
        f"unexpected character {_describe(text[where])} in "
        f"{_show(text[start : word.end()])}; names, keywords and numbers use only "
        "ASCII letters, digits and _",
        span,
    )


def _describe(char: str) -> str:
    """'x' for ASCII; the code point and its name too for anything else ('\\u0430'
    alone does not tell a user that it is a Cyrillic look-alike of 'a')."""
    if char.isascii() and char.isprintable():
        return repr(char)
    name = unicodedata.name(char, "")
    return f"{char!r} (U+{ord(char):04X}{' ' + name if name else ''})"


def _show(text: str) -> str:
    if len(text) > 40:
        text = text[:37] + "..."
    return repr(text)


def scan_comments(text: str) -> tuple[ast.Comment, ...]:
    """Find `#` comments outside strings. Linear; strings are single-line by the grammar."""
    comments = []
    offset = 0
    # Lines end at "\n" only, as the lexer counts them: str.splitlines() also splits at
    # form feeds, U+2028 and others, which cut comments short (`fmt` lost their ends).
    for line_no, line in enumerate(text.split("\n"), start=1):
        if "#" not in line:  # most lines: no per-character loop
            offset += len(line) + 1
            continue
        in_string = False
        i = 0
        body = line.removesuffix("\r")
        while i < len(body):
            ch = body[i]
            if in_string:
                if ch == "\\":
                    i += 1
                elif ch == '"':
                    in_string = False
            elif ch == '"':
                in_string = True
            elif ch == "#":
                trailing = body[:i].strip() != ""
                span = Span(
                    line_no,
                    i + 1,
                    line_no,
                    len(body) + 1,
                    offset + i,
                    offset + len(body),
                )
                comments.append(ast.Comment(body[i:].rstrip(), span, trailing))
                break
            i += 1
        offset += len(line) + 1
    return tuple(comments)
