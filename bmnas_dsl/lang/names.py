"""Identifier rules and nearest-name suggestions."""

from __future__ import annotations

import builtins
import contextlib
import difflib
import keyword
import re
from collections.abc import Callable, Iterator
from contextvars import ContextVar

MAX_IDENTIFIER_LENGTH = 64
# What the grammar lexes as a name (grammar/bmg.lark, NAME): ASCII letters, digits, `_`.
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ROLE_WORDS = frozenset({"x", "y", "out"})
_PYTHON_NAMES = (
    frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))
)

# Suggestions compare against at most this many candidates, keeping error reports linear
# in the size of the file even when thousands of names are defined.
_MAX_CANDIDATES = 2000
# ... and only this many suggestions are made per analysed file (about 5 ms each against
# 2,000 candidates): a file of 100,000 misspelt names must still be checked in linear
# time, and nobody reads the hundred-and-first "did you mean".
SUGGESTIONS_PER_FILE = 100
_budget: ContextVar[list[int] | None] = ContextVar("suggestion_budget", default=None)


@contextlib.contextmanager
def suggestion_budget(limit: int = SUGGESTIONS_PER_FILE) -> Iterator[None]:
    """Within this block, `suggest` answers at most `limit` times, then stays silent."""
    token = _budget.set([limit])
    try:
        yield
    finally:
        _budget.reset(token)


def identifier_problem(name: str) -> str | None:
    """Why `name` cannot be used as a declared name, or None when it can."""
    if len(name) > MAX_IDENTIFIER_LENGTH:
        return f"is longer than {MAX_IDENTIFIER_LENGTH} characters"
    if name.startswith("__"):
        return "starts with '__'"
    if name in ROLE_WORDS:
        return f"is reserved ('{name}' has its own role in a cell)"
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        return "is a Python keyword"
    if name in _PYTHON_NAMES:
        return "is a Python builtin name"
    return None


def declarable_problem(name: str) -> str | None:
    """Why `name` cannot be declared in a .bmg file at all (the grammar cannot write it,
    or validation refuses it), or None: for names made outside the language, such as a
    feature bank's modality and feature names."""
    if not NAME_PATTERN.fullmatch(name):
        return "is not a .bmg name (ASCII letters, digits and _, not starting with a digit)"
    return identifier_problem(name)


def suggest(name: str, candidates: list[str] | Callable[[], list[str]]) -> str:
    """`; did you mean 'x'?` for the closest candidate, or an empty string (also once
    the budget of the enclosing `suggestion_budget` is spent)."""
    budget = _budget.get()
    if budget is not None:
        if budget[0] <= 0:
            return ""
        budget[0] -= 1
    if callable(candidates):  # built only when a suggestion is really made
        candidates = candidates()
    pool = [c for c in candidates if abs(len(c) - len(name)) <= 3][:_MAX_CANDIDATES]
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.5)
    if not close:
        lowered = {c.lower(): c for c in pool}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return f"; did you mean '{close[0]}'?" if close else ""
