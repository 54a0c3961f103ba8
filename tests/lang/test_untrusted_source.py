"""Untrusted genotype text through the front end (docs/reliability.md, "Untrusted
input: the front end"): byte-order mark and CRLF accepted, NUL bytes, look-alike letters,
absurd inputs (deep nesting, long lines and names, huge integers), the file-size limit
(E015), linear time, and the per-file cap on "did you mean" suggestions. The fuzzing is
tests/lang/test_fuzz.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import MINIMAL, REPO, run_bmnas
from reliability_helpers import load_benchmark, run_cli_many

from bmnas_dsl.lang.diagnostics import BmgError
from bmnas_dsl.passes.pipeline import (
    MAX_SOURCE_BYTES,
    analyse_bytes,
    analyse_text,
    read_source,
)

fuzz = load_benchmark("fuzz")


def located(text: str) -> list[tuple[str, int, int]]:
    return [
        (d.code, d.span.line, d.span.column) for d in analyse_text(text).diagnostics
    ]


def test_bom_and_crlf_are_accepted_and_fmt_normalises_them(tmp_path):
    """check and compile accept a byte-order mark and CRLF line ends; the canonical form
    has neither, so `fmt --check` reports the file and `fmt --write` rewrites it."""
    example = REPO / "examples" / "ntu_config1.bmg"  # comments, meta strings
    canonical = example.read_bytes()
    variants = {
        "bom": b"\xef\xbb\xbf" + canonical,
        "crlf": canonical.replace(b"\n", b"\r\n"),
        "bom_crlf": b"\xef\xbb\xbf" + canonical.replace(b"\n", b"\r\n"),
    }
    commands = []
    for name, data in variants.items():
        (tmp_path / name).mkdir()
        path = tmp_path / name / example.name  # SOURCE names the file
        path.write_bytes(data)
        commands += [
            ["check", str(path)],
            ["compile", str(path), "-o", str(tmp_path / name / "out.py")],
            ["fmt", str(path)],
            ["fmt", "--check", str(path)],
            ["fmt", "--write", str(path)],
            ["check", str(path)],
        ]
    plain = tmp_path / "plain.py"
    results = run_cli_many([*commands, ["compile", str(example), "-o", str(plain)]])
    for index, name in enumerate(variants):
        check, compiled, printed, checked, written, again = results[6 * index :][:6]
        assert check["status"] == 0 and ": ok (5 warning(s))" in check["stdout"]
        assert compiled["status"] == 0, compiled
        assert printed["status"] == 0 and printed["stdout"].encode() == canonical
        assert checked["status"] == 1 and "would reformat" in checked["stderr"]
        assert written["status"] == 0
        assert (tmp_path / name / example.name).read_bytes() == canonical
        assert again["status"] == 0
        # The module of the canonical file; a CRLF source has another hash.
        differ = set(plain.read_text().split("\n")) ^ set(
            (tmp_path / name / "out.py").read_text().split("\n")
        )
        assert all(line.startswith(("# sha256: ", "SOURCE_SHA256")) for line in differ)


def test_bom_and_crlf_keep_lines_and_columns():
    broken = MINIMAL.replace("bmg 1", "bmg 2")
    assert located("\ufeff" + broken) == located(broken) == [("E002", 1, 5)]
    error = MINIMAL.replace("Sum(x, y)", "Summ(x, y)")
    assert located(error.replace("\n", "\r\n")) == located(error)
    rendered = analyse_text(error.replace("\n", "\r\n"), "m.bmg").render_diagnostics()
    assert "\r" not in rendered and rendered.endswith("             ^^^^")


def test_a_bad_byte_after_a_bom_is_located_in_characters(tmp_path):
    path = tmp_path / "m.bmg"
    path.write_bytes(b"\xef\xbb\xbfbmg 1 # \xc3\xa9\xff\n")
    result = run_bmnas("check", str(path))
    assert result.returncode == 1
    assert f"{path}:1:10: error[E001]: file is not UTF-8 text (byte 0xff)" in (
        result.stderr
    )


@pytest.mark.parametrize(
    ("old", "new", "line", "column", "words"),
    [
        ("classes 3", "classes\x00 3", 5, 12, ["'\\x00' (U+0000)"]),
        ("model tiny", "model ti\x00ny", 3, 9, ["'\\x00' (U+0000)"]),
        ("model tiny", "model \u0430tiny", 3, 7, ["U+0430 CYRILLIC SMALL LETTER A"]),
        ("classes 3", "cl\u0430sses 3", 5, 7, ["'cl\u0430sses'", "ASCII"]),
        ("cell c1", "cell c\u04301", 16, 11, ["'c\u04301'"]),
        ("Sum(x", "\u0405um(x", 17, 14, ["U+0405 CYRILLIC CAPITAL LETTER DZE"]),
        ("a.f1, y", "a.f\uff11, y", 16, 21, ["U+FF11 FULLWIDTH DIGIT ONE"]),
        ("classes 3", "classes\u00a03", 5, 12, ["U+00A0 NO-BREAK SPACE"]),
        ("classes 3", "classes 3\u202e", 5, 14, ["U+202E RIGHT-TO-LEFT OVERRIDE"]),
    ],
    ids=["nul", "nul-in-name", "cyrillic", "keyword", "cell", "op", "digit", "nbsp", "bidi"],
)  # fmt: skip
def test_nul_and_non_ascii_characters_are_located_and_named(
    old, new, line, column, words
):
    [diagnostic] = analyse_text(MINIMAL.replace(old, new, 1)).diagnostics
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == (
        "E001",
        line,
        column,
    )
    for word in words:
        assert word in diagnostic.message, diagnostic.message


def test_every_lookalike_letter_is_refused_where_it_stands():
    """Exhaustive: every letter, digit and `_` of MINIMAL (all in names and keywords)
    replaced by each of its look-alikes is an E001 at that very character, naming it."""
    cases = 0
    for index, char in enumerate(fuzz.MINIMAL):
        for lookalike in fuzz.LOOKALIKES.get(char, ()):
            text = fuzz.MINIMAL[:index] + lookalike + fuzz.MINIMAL[index + 1 :]
            line = text.count("\n", 0, index) + 1
            column = index - text.rfind("\n", 0, index)
            first = analyse_text(text).diagnostics[0]
            assert (first.code, first.span.line, first.span.column) == (
                "E001",
                line,
                column,
            ), (repr(text[index - 10 : index + 10]), first)
            assert f"U+{ord(lookalike):04X}" in first.message
            cases += 1
    assert cases > 200  # the figure in docs/reliability.md


def test_nul_and_lookalikes_in_comments_and_strings_are_text():
    """Comments and strings are free text: any character but a line end is kept."""
    text = MINIMAL.replace(
        "classes 3", 'classes 3  # \x00 \u0430 \u202e\n    meta { k = "\x00\u0430" }'
    )
    result = analyse_text(text)
    assert result.ok, result.render_diagnostics()
    assert result.pruned.graph["meta"] == {"k": "\x00\u0430"}


# (id, text, expected code); each case is large, and must end quickly with that code.
MEGA = 1_000_000
ABSURD = [
    ("deep-braces", "bmg 1\nmodel m " + "{" * MEGA, "E001"),
    ("deep-balanced", "bmg 1\nmodel m " + "{" * MEGA + "}" * MEGA, "E001"),
    ("deep-parens", MINIMAL.replace("Sum(x, y)", "Sum(" + "(" * MEGA + "x, y)"), "E001"),
    ("deep-brackets", MINIMAL.replace("[32]", "[" * MEGA + "32]"), "E001"),
    ("deep-meta", MINIMAL.replace("classes 3", "classes 3 meta { k = " + "{" * MEGA), "E001"),
    ("long-name", MINIMAL.replace("model tiny", "model " + "t" * MEGA), "E011"),
    ("long-ref", MINIMAL.replace("y = a.f2", "y = a" + ".f2" * (MEGA // 30)), "E004"),
    ("long-string", MINIMAL.replace("classes 3", 'classes 3 meta { k = "' + "s" * MEGA + '" }'), ""),
    ("unterminated-string", MINIMAL.replace("classes 3", 'classes 3 meta { k = "' + "s" * MEGA), "E001"),
    ("long-comment", MINIMAL.replace("classes 3", "classes 3  #" + "#" * MEGA), ""),
    ("hash-comments", "# # # # # # # # # # # # # # # # # # # # # # # # #\n" * 20 + "x", "E001"),
    ("huge-int", MINIMAL.replace("classes 3", "classes " + "9" * MEGA), "E009"),
    ("huge-negative", MINIMAL.replace("C = 8", "C = -" + "9" * MEGA), "E009"),
    ("huge-dim", MINIMAL.replace("[32]", "[" + "9" * MEGA + "]"), "E010"),
    ("huge-version", "bmg " + "7" * MEGA + "\n" + MINIMAL[6:], "E002"),
    ("huge-float", MINIMAL.replace("classes 3", "classes 3 dropout 0." + "1" * MEGA), ""),
    ("huge-exponent", MINIMAL.replace("classes 3", "classes 3 dropout 1e" + "9" * MEGA), "E009"),
    ("long-line-of-dims", MINIMAL.replace("[32]", "[" + "1, " * (MEGA // 30) + "1]"), ""),
    ("blank-lines", "bmg 1\n" + "\n" * MEGA + "model", "E001"),
    ("nul-bytes", "\x00" * MEGA, "E001"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "code"), [c[1:] for c in ABSURD], ids=[c[0] for c in ABSURD]
)
def test_absurd_inputs_end_in_a_clear_answer(text, code):
    # What it costs is benchmarks/scaling.py's job (as ratios); here only the answer.
    result = analyse_text(text, "absurd.bmg")
    rendered = result.render_diagnostics()
    codes = [d.code for d in result.diagnostics if d.is_error]
    assert codes[:1] == ([code] if code else []), rendered[:500]
    # The rendering stays short however long the name or the line (windowed, cut).
    assert all(len(line) < 400 for line in rendered.split("\n")), rendered[:500]


def test_size_limit_is_its_own_clear_error(tmp_path):
    """E015 above MAX_SOURCE_BYTES (2 MiB), for every command that reads a genotype, with
    nothing written; a file of exactly the limit is read."""
    padding = MAX_SOURCE_BYTES - len(MINIMAL.encode()) - 3
    at_limit = MINIMAL + "#" + "x" * padding + "\n"
    assert len(at_limit.encode()) == MAX_SOURCE_BYTES - 1
    (tmp_path / "limit.bmg").write_text(at_limit + "\n")
    (tmp_path / "over.bmg").write_text(at_limit + "\n\n")
    out = tmp_path / "over.py"
    commands = [
        ["check", str(tmp_path / "limit.bmg")],
        ["check", str(tmp_path / "over.bmg")],
        ["fmt", "--check", str(tmp_path / "over.bmg")],
        ["info", str(tmp_path / "over.bmg")],
        ["compile", str(tmp_path / "over.bmg"), "-o", str(out)],
    ]
    if Path("/dev/zero").exists():  # endless: must not be read to its end
        commands.append(["check", "/dev/zero"])
    results = run_cli_many(commands)
    assert results[0]["status"] == 0, results[0]
    message = (
        "error[E015]: file too large: genotype files are limited to 2,097,152 bytes "
        "(2 MiB), this one has 2,097,153 bytes"
    )
    for result in results[1:5]:
        assert result["status"] == 1
        assert f"{tmp_path / 'over.bmg'}: {message}" in result["stderr"], result
    assert not out.exists()
    if len(results) == 6:
        assert "/dev/zero: error[E015]" in results[5]["stderr"]
    with pytest.raises(BmgError, match="too large") as raised:
        read_source(tmp_path / "over.bmg")
    assert raised.value.diagnostics[0].code == "E015"
    assert analyse_bytes(b" " * (MAX_SOURCE_BYTES + 1)).diagnostics[0].code == "E015"


scaling = load_benchmark("scaling")


def _work(text: str) -> int:
    """Python-level calls (functions and builtins) made to analyse and render `text`:
    deterministic, unlike time, so it can be asserted on in the suite."""
    calls = 0

    def count(frame: object, event: str, arg: object) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    sys.setprofile(count)
    try:
        analyse_text(text).render_diagnostics()
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize(
    ("make", "n"),
    [c[1:] for c in scaling.SCALING],
    ids=[c[0] for c in scaling.SCALING],
)
def test_front_end_work_is_linear(make, n):
    """8x the input must make at most 10x the calls (linear is 8x, quadratic 64x), so
    that no Python-level loop is quadratic. Work inside one C call (a regex, a split) is
    not counted: `benchmarks/scaling.py` times the same inputs (docs/reliability.md)."""
    small, large = _work(make(n)), _work(make(8 * n))
    assert large <= 10 * max(small, 1_000), f"8x input made {large / small:.1f}x calls"


def test_did_you_mean_is_capped_per_file_so_checking_stays_linear():
    """Each suggestion costs a fuzzy search over up to 2,000 names; a file of thousands
    of misspelt references gets the first SUGGESTIONS_PER_FILE of them only."""
    from bmnas_dsl.lang.names import SUGGESTIONS_PER_FILE

    cells = "\n".join(
        f"    cell c{i} (x = a.f, y = cx{i}) {{\n        s1 = Sum(x, y)\n"
        "        out = s1\n    }"
        for i in range(SUGGESTIONS_PER_FILE + 50)
    )
    text = (
        "bmg 1\nmodel m {\n    dims C = 8, L = 2\n    classes 2\n"
        f"    modality a {{\n        f : [4]\n    }}\n{cells}\n    output c0\n}}\n"
    )
    result = analyse_text(text)
    undefined = [d for d in result.diagnostics if d.code == "E004"]
    assert len(undefined) == SUGGESTIONS_PER_FILE + 50
    hinted = [d for d in undefined if "did you mean" in d.message]
    assert len(hinted) == SUGGESTIONS_PER_FILE
    # The budget belongs to one analysis: the next file gets suggestions again.
    assert "did you mean 'c0'" in analyse_text(text).diagnostics[0].message
