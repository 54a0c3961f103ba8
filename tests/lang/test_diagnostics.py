"""Every error and warning code, with its line and column, and the rendered format."""

from __future__ import annotations

import pytest
from conftest import MINIMAL, run_bmnas

from bmnas_dsl.passes.pipeline import analyse_text


def variant(old: str, new: str, base: str = MINIMAL) -> str:
    assert old in base, old
    return base.replace(old, new, 1)


# (case id, source, code, line, column, words the message must contain)
CASES = [
    (
        "E001-token",
        variant("classes 3", "classes 3 3"),
        "E001",
        5,
        15,
        ["unexpected '3'"],
    ),
    ("E001-eof", MINIMAL.rstrip().rstrip("}"), "E001", 28, 1, ["end of file", "'}'"]),
    (
        "E001-char",
        variant("s1 = Sum(x, y)", "s1 = Sum(x, y) $"),
        "E001",
        17,
        24,
        ["'$'"],
    ),
    (
        "E001-cell-ports",
        variant("(x = a.f1, y = b.g1)", "(y = a.f1, x = b.g1)"),
        "E001",
        16,
        14,
        ["expected 'x'"],
    ),
    ("E002-missing", MINIMAL.replace("bmg 1\n", ""), "E002", 1, 1, ["missing version"]),
    (
        "E002-other",
        MINIMAL.replace("bmg 1", "bmg 2"),
        "E002",
        1,
        5,
        ["unsupported", "2"],
    ),
    (
        "E003",
        variant("Attention(s1, y)", "Atention(s1, y)"),
        "E003",
        18,
        14,
        ["unknown operation 'Atention'", "did you mean 'Attention'"],
    ),
    (
        "E004-cell-input",
        variant("x = c1, y = a.f2", "x = c1, y = a.f3"),
        "E004",
        22,
        26,
        ["'a.f3'", "did you mean 'a.f2'"],
    ),
    (
        "E004-step-arg",
        variant("Attention(s1, y)", "Attention(s3, y)"),
        "E004",
        18,
        24,
        ["'s3'", "did you mean"],
    ),
    (
        "E004-output",
        variant("output c1, c2", "output c1, c3"),
        "E004",
        27,
        16,
        ["'c3'", "did you mean"],
    ),
    ("E004-modality", variant("y = a.f2", "y = a"), "E004", 22, 26, ["is a modality"]),
    (
        "E005",
        variant("(x = a.f1, y = b.g1)", "(x = a.f1, y = a.f1)"),
        "E005",
        16,
        28,
        ["both x and y"],
    ),
    (
        "E006-cells",
        variant("(x = a.f1, y = b.g1)", "(x = a.f1, y = c2)"),
        "E006",
        16,
        28,
        ["c1 -> c2 -> c1"],
    ),
    (
        "E006-self",
        variant("(x = a.f1, y = b.g1)", "(x = c1, y = b.g1)"),
        "E006",
        16,
        18,
        ["c1 -> c1"],
    ),
    (
        "E006-steps",
        variant("s1 = Sum(x, y)", "s1 = Sum(x, s2)"),
        "E006",
        17,
        21,
        ["s1 -> s2 -> s1"],
    ),
    (
        "E007",
        variant("Sum(x, y)", "Sum(x, y, x)"),
        "E007",
        17,
        9,
        ["takes 2 operands, got 3"],
    ),
    (
        "E008-cell",
        variant(
            "output c1, c2",
            "cell c2 (x = a.f1, y = b.g1) {\n        s1 = Sum(x, y)"
            "\n        out = s1\n    }\n\n    output c1, c2",
        ),
        "E008",
        27,
        10,
        ["duplicate cell 'c2'", "line 22"],
    ),
    (
        "E008-feature",
        variant("f2 : [32]", "f2 : [32]\n        f1 : [4]"),
        "E008",
        10,
        9,
        ["duplicate feature 'a.f1'"],
    ),
    (
        "E008-step",
        variant("s2 = Attention(s1, y)", "s1 = Attention(s1, y)"),
        "E008",
        18,
        9,
        ["duplicate step 'c1.s1'"],
    ),
    (
        "E008-modality",
        variant("modality b {", "modality a {"),
        "E008",
        12,
        14,
        ["duplicate modality 'a'"],
    ),
    ("E009-missing-classes", variant("    classes 3\n", ""), "E009", 3, 7, ["classes"]),
    ("E009-zero-dim", variant("C = 8", "C = 0"), "E009", 4, 10, ["dimension C = 0"]),
    (
        "E009-repeated",
        variant("classes 3", "classes 3\n    classes 4"),
        "E009",
        6,
        5,
        ["repeated"],
    ),
    (
        "E009-dropout",
        variant("classes 3", "classes 3\n    dropout 1.5"),
        "E009",
        6,
        5,
        ["dropout"],
    ),
    (
        "E009-task",
        variant("classes 3", "classes 3\n    task regression"),
        "E009",
        6,
        5,
        ["unknown task 'regression'"],
    ),
    ("E010-zero", variant("[16, 5]", "[16, 0]"), "E010", 8, 9, ["every dimension"]),
    ("E010-empty", variant("[32]", "[]"), "E010", 9, 9, ["empty shape"]),
    (
        "E011-keyword",
        variant("modality b {", "modality lambda {"),
        "E011",
        12,
        14,
        ["Python keyword"],
    ),
    (
        "E011-builtin",
        variant("cell c2", "cell print").replace("output c1, c2", "output c1, print"),
        "E011",
        22,
        10,
        ["builtin"],
    ),
    (
        "E011-reserved",
        variant(
            "s1 = LinearGLU(x, y)\n        out = s1",
            "out = LinearGLU(x, y)\n        out = out",
        ),
        "E011",
        23,
        9,
        ["reserved"],
    ),
    ("E011-dunder", variant("model tiny", "model __tiny"), "E011", 3, 7, ["'__'"]),
    ("E011-long", variant("model tiny", "model " + "m" * 65), "E011", 3, 7, ["64"]),
    (
        "E012-out-missing",
        variant("        out = s1\n    }\n\n    output", "    }\n\n    output"),
        "E012",
        22,
        10,
        ["no `out`"],
    ),
    (
        "E012-out-input",
        variant("out = s1, s2", "out = s1, x"),
        "E012",
        19,
        19,
        ["not a step"],
    ),
    (
        "E012-output-feature",
        variant("output c1, c2", "output c1, a.f2"),
        "E012",
        27,
        16,
        ["not a cell"],
    ),
    (
        "E012-output-missing",
        variant("    output c1, c2\n", ""),
        "E012",
        3,
        7,
        ["missing `output"],
    ),
    (
        "E012-output-repeated",
        variant("output c1, c2", "output c1, c2\n    output c2"),
        "E012",
        28,
        5,
        ["repeated"],
    ),
    (
        "E013-feature",
        variant("Sum(x, y)", "Sum(x, a.f2)"),
        "E013",
        17,
        21,
        ["is a feature"],
    ),
    (
        "E013-cell",
        variant("LinearGLU(x, y)", "LinearGLU(x, c1)"),
        "E013",
        23,
        27,
        ["is a cell"],
    ),
    (
        "E014-no-cell",
        "bmg 1\nmodel m {\n    dims C = 2, L = 2\n    classes 2\n    output\n}\n".replace(
            "    output\n", ""
        ),
        "E014",
        2,
        7,
        ["no cell"],
    ),
    (
        "E014-two-models",
        MINIMAL + "\nmodel other {\n}\n",
        "E014",
        30,
        7,
        ["more than one model"],
    ),
    ("E014-no-model", "bmg 1\n", "E014", 1, 1, ["no model"]),
    ("W001", variant("out = s1, s2", "out = s1"), "W001", 18, 9, ["not reachable"]),
    (
        "W002",
        variant("s2 = Attention(s1, y)", "s2 = Zero(s1, y)"),
        "W002",
        18,
        14,
        ["Zero"],
    ),
    (
        "W003",
        variant("output c1, c2", "output c1"),
        "W003",
        22,
        10,
        ["not reachable from `output`"],
    ),
    (
        "W004",
        MINIMAL.replace("f2 : [32]", "f2 : [32]\n        f3 : [7]"),
        "W004",
        10,
        9,
        ["'a.f3'"],
    ),
]


@pytest.mark.parametrize(
    ("source", "code", "line", "column", "words"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_code_line_and_column(source, code, line, column, words):
    result = analyse_text(source, "case.bmg")
    found = [d for d in result.diagnostics if d.code == code]
    assert found, f"no {code} in {[(d.code, d.message) for d in result.diagnostics]}"
    located = [d for d in found if (d.span.line, d.span.column) == (line, column)]
    assert located, (
        f"{code} at {[(d.span.line, d.span.column) for d in found]}, not {line}:{column}"
    )
    for word in words:
        assert any(word in d.message for d in located), (
            word,
            [d.message for d in located],
        )
    assert result.ok == (code.startswith("W"))


def test_every_code_of_the_spec_is_covered():
    codes = {case[2] for case in CASES}
    expected = {f"E{n:03d}" for n in range(1, 15)} | {f"W{n:03d}" for n in range(1, 5)}
    assert codes == expected


def test_the_minimal_genotype_is_clean():
    result = analyse_text(MINIMAL, "tiny.bmg")
    assert result.diagnostics == []
    assert result.ok


def test_all_problems_are_reported_at_once():
    source = variant("Attention(s1, y)", "Atention(s1, y)")
    source = variant("(x = a.f1, y = b.g1)", "(x = a.f1, y = a.f1)", source)
    source = variant("C = 8", "C = -1", source)
    source = variant("output c1, c2", "output c1, c9", source)
    codes = [d.code for d in analyse_text(source).diagnostics]
    assert {"E003", "E005", "E009", "E004"} <= set(codes)
    lines = [d.span.line for d in analyse_text(source).diagnostics]
    assert lines == sorted(lines)


def test_rendered_format_has_location_source_line_and_caret():
    source = variant("(x = a.f1, y = b.g1)", "(x = a.f1, y = a.f1)")
    [diagnostic] = analyse_text(source).diagnostics
    text = diagnostic.render("dir/model.bmg", source)
    head, line, caret = text.split("\n")
    assert head == (
        "dir/model.bmg:16:28: error[E005]: cell 'c1' takes 'a.f1' as both x and y; "
        "a cell needs two distinct predecessors"
    )
    assert line == "    cell c1 (x = a.f1, y = a.f1) {"
    assert caret == " " * 27 + "^^^^"


def test_check_prints_diagnostics_and_exits_1(write):
    path = write(variant("Sum(x, y)", "Summ(x, y)"))
    result = run_bmnas("check", str(path))
    assert result.returncode == 1
    assert (
        f"{path}:17:14: error[E003]: unknown operation 'Summ'; did you mean 'Sum'?"
        in (result.stderr)
    )
    assert "Traceback" not in result.stderr


def test_warnings_keep_exit_code_zero(write):
    path = write(variant("s2 = Attention(s1, y)", "s2 = Zero(s1, y)"))
    result = run_bmnas("check", str(path))
    assert result.returncode == 0, result.stderr
    assert "warning[W002]" in result.stderr
