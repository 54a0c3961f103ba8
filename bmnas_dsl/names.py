"""Identifier rules and nearest-name suggestions."""

from __future__ import annotations

import builtins
import difflib
import keyword

MAX_IDENTIFIER_LENGTH = 64
ROLE_WORDS = frozenset({"x", "y", "out"})
_PYTHON_NAMES = (
    frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))
)

# Suggestions compare against at most this many candidates, keeping error reports linear
# in the size of the file even when thousands of names are defined.
_MAX_CANDIDATES = 2000


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


def suggest(name: str, candidates: list[str]) -> str:
    """`; did you mean 'x'?` for the closest candidate, or an empty string."""
    pool = [c for c in candidates if abs(len(c) - len(name)) <= 3][:_MAX_CANDIDATES]
    close = difflib.get_close_matches(name, pool, n=1, cutoff=0.5)
    if not close:
        lowered = {c.lower(): c for c in pool}
        if name.lower() in lowered:
            close = [lowered[name.lower()]]
    return f"; did you mean '{close[0]}'?" if close else ""
