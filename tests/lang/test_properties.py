"""Property-based tests: random valid genotypes round-trip; random and mutated text never
crashes the front end."""

from __future__ import annotations

from collections import Counter

from conftest import EXAMPLES, MINIMAL
from genotypes import genotypes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmnas_dsl.lang.formatter import format_file
from bmnas_dsl.lang.parser import parse
from bmnas_dsl.passes.pipeline import analyse_text

SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@SETTINGS
@given(genotypes())
def test_random_genotypes_check_and_round_trip(text):
    result = analyse_text(text, "random.bmg")
    assert result.ok, result.render_diagnostics()
    formatted = format_file(result.tree)
    assert parse(formatted) == result.tree
    assert format_file(parse(formatted)) == formatted  # idempotent
    assert analyse_text(formatted).ok


@SETTINGS
@given(genotypes())
def test_formatting_keeps_every_comment(text):
    tree = parse(text)
    before = Counter(c.text for c in tree.comments)
    after = Counter(c.text for c in parse(format_file(tree)).comments)
    assert before == after


def test_examples_round_trip():
    for example in EXAMPLES:
        text = example.read_text()
        tree = parse(text)
        assert format_file(tree) == text, f"{example} is not canonical"
        assert parse(format_file(tree)) == tree


def _never_crashes(text: str) -> None:
    result = analyse_text(text, "fuzz.bmg")
    for diagnostic in result.diagnostics:
        rendered = diagnostic.render("fuzz.bmg", text)
        assert rendered.startswith(f"fuzz.bmg:{diagnostic.span.line}:")
    if result.ok:
        assert result.pruned is not None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_random_text_never_crashes(text):
    _never_crashes(text)


TOKENS = [
    "bmg",
    "1",
    "model",
    "m",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    ",",
    "=",
    ":",
    ".",
    "x",
    "y",
    "out",
    "cell",
    "modality",
    "output",
    "dims",
    "C",
    "L",
    "classes",
    "task",
    "dropout",
    "meta",
    "Sum",
    "Zero",
    "-1",
    "0",
    "1e9",
    '"s"',
    "#c\n",
    "\n",
    "c1",
    "a.f1",
    "99999999999999999999999999",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=60))
def test_random_token_soup_never_crashes(tokens):
    _never_crashes(" ".join(tokens))


@settings(max_examples=400, deadline=None)
@given(st.data())
def test_mutated_genotypes_never_crash(data):
    base = data.draw(st.sampled_from([MINIMAL, *(e.read_text() for e in EXAMPLES)]))
    chars = list(base)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(chars)))
        action = data.draw(
            st.sampled_from(["delete", "insert", "replace", "duplicate_line"])
        )
        if action == "delete" and position < len(chars):
            del chars[position : position + data.draw(st.integers(1, 12))]
        elif action == "insert":
            chars[position:position] = list(data.draw(st.sampled_from(TOKENS)) + " ")
        elif action == "replace" and position < len(chars):
            chars[position] = data.draw(st.characters())
        else:
            lines = "".join(chars).splitlines(keepends=True)
            if lines:
                line = data.draw(st.integers(0, len(lines) - 1))
                lines.insert(line, lines[line])
            chars = list("".join(lines))
    _never_crashes("".join(chars))
