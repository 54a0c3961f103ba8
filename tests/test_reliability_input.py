"""Untrusted input (issue 7, parts 1, 2 and 5): a genotype or a weights file from anyone.

1. The front end under attack: byte-order mark and CRLF accepted, NUL bytes, look-alike
   letters, deep nesting, long lines and names, huge integers, the file-size limit (E015),
   linear time, and fuzzing with the generators of benchmarks/fuzz.py.
2. No code execution: names, meta strings, file names and comments cannot put code into
   a generated module; no loader unpickles (an audit of the package's source).
3. Clear errors: bad data, inputs, weights and output paths give one line and exit 1.

docs/reliability.md lists these tests with their figures.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import keyword
import os
import pickle
import random
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import MINIMAL, REPO, PickleExploit, run_bmnas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmnas_dsl.backend.codegen import Source, render_module
from bmnas_dsl.backend.loader import import_generated
from bmnas_dsl.lang.diagnostics import BmgError
from bmnas_dsl.lang.names import identifier_problem
from bmnas_dsl.passes.describe import describe
from bmnas_dsl.passes.pipeline import (
    MAX_SOURCE_BYTES,
    analyse_bytes,
    analyse_text,
    read_source,
)


def _load_benchmark(name: str) -> ModuleType:
    """benchmarks/NAME.py: the suite runs its generators and checks for a short while."""
    spec = importlib.util.spec_from_file_location(
        f"bmnas_{name}", REPO / "benchmarks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


fuzz = _load_benchmark("fuzz")

# One fresh interpreter runs many commands through `bmnas_dsl.cli.main.main`, each with its
# own captured streams: the CLI's code paths and exit codes at the cost of one start.
CLI_MANY = r"""
import contextlib, io, json, sys, traceback
from bmnas_dsl.cli.main import main
results = []
for argv in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exc:
            status = exc.code
        except BaseException:
            status = "escaped"
            traceback.print_exc()
    results.append({"status": status, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps(results))
"""


def run_cli_many(commands: list[list[str]], cwd: Path | None = None) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-c", CLI_MANY],
        input=json.dumps(commands),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def assert_one_line_error(result: dict, prefix: str, *words: str) -> None:
    """Exit 1, nothing on stdout, and exactly one line on stderr: the message."""
    stderr = result["stderr"]
    assert result["status"] == 1 and result["stdout"] == "", result
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert stderr.count("\n") == 1 and stderr.startswith(prefix), stderr
    for word in words:
        assert word in stderr, (word, stderr)


def located(text: str) -> list[tuple[str, int, int]]:
    return [
        (d.code, d.span.line, d.span.column) for d in analyse_text(text).diagnostics
    ]


# ------------------------------------------------------------------ 1. the front end


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
@pytest.mark.timeout(120)  # a hang fails here; speed is benchmarks/scaling.py's job
def test_absurd_inputs_end_in_a_clear_answer_quickly(text, code):
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


scaling = _load_benchmark("scaling")


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


FUZZ_CASES = {  # generator -> hypothesis examples in `make test`
    "random_bytes": 1_000,
    "random_text": 1_000,
    "token_soup": 800,
    "byte_mutation": 1_500,
    "line_mutation": 800,
    "lookalike": 400,
    "extreme": 150,
    "undefined_refs": 30,
}
SMALL_SIZES = (10, 1_000, 10_000)  # extreme inputs up to about 40 kB in the suite


def _generate(name: str, seed: int) -> bytes:
    rng = random.Random(seed)
    if name == "extreme":
        return fuzz.extreme(rng, SMALL_SIZES)
    if name == "undefined_refs":
        return fuzz.undefined_refs(rng, (10, 1_000))
    return fuzz.GENERATORS[name](rng)


@pytest.mark.parametrize("generator", list(FUZZ_CASES))
def test_fuzzed_inputs_get_a_clear_answer(generator):
    """The benchmark's generators and checks (benchmarks/fuzz.py): nothing raises, every
    diagnostic renders located and terminal-safe, fmt round-trips what parses."""

    @settings(
        max_examples=FUZZ_CASES[generator],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    @given(seed=st.integers(0, 2**64 - 1))
    def run(seed: int) -> None:
        outcome = fuzz.check_case(_generate(generator, seed))
        assert outcome.status != "crash", outcome.detail

    run()


@settings(max_examples=5, deadline=None, database=None)
@given(seed=st.integers(0, 2**64 - 1))
def test_fuzzed_files_through_the_command_line(tmp_path_factory, seed):
    """20 fuzzed files per example through real `bmnas check` and `bmnas fmt --check`
    processes: exit 0 or 1, a summary per file, never a traceback."""
    folder = tmp_path_factory.mktemp("fuzz")
    rng = random.Random(seed)
    names = list(FUZZ_CASES)
    paths = []
    for index in range(20):
        path = folder / f"f{index}.bmg"
        path.write_bytes(_generate(names[index % len(names)], rng.getrandbits(64)))
        paths.append(str(path))
    check = run_bmnas("check", *paths)
    assert check.returncode in (0, 1), check.stderr[-2000:]
    for path in paths:  # a summary line per file: nothing stopped the command early
        failed = re.search(
            rf"^{re.escape(path)}: [0-9]+ error\(s\)", check.stderr, re.M
        )
        assert f"{path}: ok" in check.stdout or failed, path
    fmt = run_bmnas("fmt", "--check", *paths)
    assert fmt.returncode in (0, 1)
    for result in (check, fmt):
        assert "Traceback" not in result.stderr
        assert "internal error" not in result.stderr


def test_the_fuzz_benchmark_runs_and_writes_its_figures(tmp_path, capsys):
    out = tmp_path / "fuzz.json"
    status = fuzz.main(["--cases", "21", "--seconds", "60", "--json", str(out)])
    assert status == 0
    data = json.loads(out.read_text())
    assert data["cases"] == 21 and data["crashes"] == []
    assert set(data["generators"]) == set(fuzz.GENERATORS)
    assert "crash" in capsys.readouterr().out


# --------------------------------------------------------------- 2. no code execution

DECLARED = {  # kind -> (old, new with {name}) placing a name where MINIMAL declares one
    "model": [("model tiny", "model {name}")],
    "modality": [("modality b {", "modality {name} {"), ("b.g1", "{name}.g1")],
    "feature": [("f2 : [32]", "{name} : [32]"), ("a.f2", "a.{name}")],
    "cell": [("cell c2", "cell {name}"), ("output c1, c2", "output c1, {name}")],
    "step": [
        ("s2 = Attention(s1, y)", "{name} = Attention(s1, y)"),
        ("out = s1, s2", "out = s1, {name}"),
    ],
}
UNSAFE_NAMES = [
    *keyword.kwlist,
    *keyword.softkwlist,
    "exec",
    "eval",
    "compile",
    "open",
    "globals",
    "getattr",
    "__import__",
    "__builtins__",
    "__class__",
    "__init__",
]


def _declare(kind: str, name: str) -> str:
    text = MINIMAL
    for old, new in DECLARED[kind]:
        text = text.replace(old, new.replace("{name}", name), 1)
    return text


@pytest.mark.parametrize("kind", list(DECLARED))
def test_python_keywords_builtins_and_dunders_are_refused_as_names(kind):
    for name in UNSAFE_NAMES:
        errors = [d for d in analyse_text(_declare(kind, name)).diagnostics]
        assert [d.code for d in errors][:1] == ["E011"], (kind, name, errors)


# Valid names that are also names of the generated module, of torch.nn.Module, or of the
# generated classes: the code generator renames them where they would collide.
TRICKY = [
    name
    for name in [
        *("self", "torch", "nn", "Model", "CellC1", "CellK", "Reshape", "Head"),
        *("ConvBNReLU", "PositionPool", "Attention", "LinearGLU", "ConcatFC", "Sum"),
        *("Zero", "INPUTS", "META", "C", "L", "CLASSES", "DROPOUT", "TASK", "SOURCE"),
        *("BMNAS_VERSION", "SOURCE_SHA256", "example_inputs", "pointwise", "h", "x_"),
        *("y_", "forward", "training", "cells", "head", "reshape", "state_dict", "to"),
        *("cuda", "norm", "project", "parameters", "k", "K1", "os", "sys", "np"),
    ]
    if identifier_problem(name) is None
]


@st.composite
def tricky_genotypes(draw) -> str:
    """A valid genotype whose every declared name is drawn from TRICKY."""
    pick = st.sampled_from(TRICKY)
    # Modalities, features of the first and second modality, and cells: distinct names.
    names = draw(st.lists(pick, min_size=8, max_size=8, unique=True))
    modalities, first, second, cells = names[:2], names[2:4], names[4:5], names[5:8]
    features = [f"{modalities[0]}.{f}" for f in first]
    features += [f"{modalities[1]}.{f}" for f in second]
    cells = cells[: draw(st.integers(1, 3))]
    lines = [f"bmg 1\nmodel {draw(pick)} {{\n dims C = 4, L = 2\n classes 3"]
    lines.append(f"modality {modalities[0]} {{ {first[0]} : [3, 2] {first[1]} : [5] }}")
    lines.append(f"modality {modalities[1]} {{ {second[0]} : [2, 3, 2] }}")
    sources = list(features)
    ops = st.sampled_from(["Sum", "Attention", "LinearGLU", "ConcatFC"])
    for cell in cells:
        x, y = sources[-1], draw(st.sampled_from(sources[:-1]))
        steps = draw(st.lists(pick, min_size=1, max_size=2, unique=True))
        body = " ".join(
            f"{step} = {draw(ops)}(x, {steps[i - 1] if i else 'y'})"
            for i, step in enumerate(steps)
        )
        lines.append(
            f"cell {cell} (x = {x}, y = {y}) {{ {body} out = {', '.join(steps)} }}"
        )
        sources.append(cell)
    lines.append(f"output {', '.join(cells)}\n}}\n")
    return "\n".join(lines)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tricky_genotypes())
def test_tricky_valid_names_compile_to_a_working_module(text):
    import torch

    result = analyse_text(text)
    assert result.ok, result.render_diagnostics()
    module = import_generated(render_module(result.pruned, Source("t.bmg", text)))
    assert module.torch is torch and module.nn is torch.nn  # nothing shadowed
    assert module.Model is getattr(module, module.Model.__name__)
    inputs = [i["name"] for i in describe(result.pruned)["inputs"]]
    assert [name for name, _ in module.INPUTS] == inputs
    logits = module.Model().eval()(*module.example_inputs(2))
    assert tuple(logits.shape) == (2, 3)


def _literal_assignment(source: str, name: str) -> object:
    """The value assigned to `name` at the top of a module, which must be a literal:
    ast.literal_eval refuses anything that would run code."""
    for node in ast.parse(source).body:
        if _assigns(node, name):
            return ast.literal_eval(node.value)  # type: ignore[attr-defined]
    raise AssertionError(f"no {name} = ... in the module")


def _assigns(node: ast.stmt, name: str) -> bool:
    return isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == [
        name
    ]


meta_text = st.text(
    st.characters(blacklist_characters="\n\r", blacklist_categories=("Cs",)),
    max_size=30,
)
META_KEYS = ["class", "__import__", "exec", "__builtins__", "self", "META", "k_"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(meta_text, min_size=1, max_size=len(META_KEYS)))
def test_meta_strings_and_keys_come_out_as_literals(values):
    """Any string (quotes, backslashes, U+2028, NUL, `{{ }}` of the template engine,
    bidi overrides) under keys that are Python keywords or dunders: META is a pure
    literal equal to what the file says."""
    values = [*values, '"""', "'''", "\\", "{{ 7 * 7 }}", "{% raw %}", "\u2028\u202e"]
    expected = dict(zip(META_KEYS, values, strict=False))
    entries = " ".join(
        f'{k} = "{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
        for k, v in expected.items()
    )
    text = MINIMAL.replace("classes 3", f"classes 3\n    meta {{ {entries} }}")
    result = analyse_text(text)
    assert result.ok, result.render_diagnostics()
    source = render_module(result.pruned, Source("m.bmg", text))
    assert _literal_assignment(source, "META") == expected
    module = import_generated(source)
    assert expected == module.META


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.text(st.characters(blacklist_categories=("Cs",)), min_size=1))
def test_the_source_file_name_cannot_change_the_code(name):
    """The file name goes into a comment and SOURCE: whatever it holds (newlines, quotes,
    `\"\"\"`), the module's code is the same as for a plain name."""
    result = analyse_text(MINIMAL)
    plain = ast.parse(render_module(result.pruned, Source("plain.bmg", MINIMAL)))
    source = render_module(result.pruned, Source(name, MINIMAL))
    assert _literal_assignment(source, "SOURCE") == name
    tree = ast.parse(source)
    for node in (tree, plain):  # SOURCE's value is the only expected difference
        for statement in node.body:
            if _assigns(statement, "SOURCE"):
                statement.value = ast.Constant("")  # type: ignore[attr-defined]
    assert ast.dump(tree) == ast.dump(plain)


def test_comments_never_reach_the_generated_code():
    marker = "PWNED_MARKER"
    text = (
        f'# {marker} """ import os; os.system(\'touch {marker}\')\n'
        + MINIMAL.replace("classes 3", f"classes 3  # {marker} \\ ''' \"\"\"").replace(
            "    }\n\n    output", f"        # {marker} }}}}\n    }}\n\n    output"
        )
    )
    result = analyse_text(text)
    assert result.ok, result.render_diagnostics()
    assert len(result.tree.comments) == 3
    source = render_module(result.pruned, Source("m.bmg", text))
    assert marker not in source


# Calls that would run code from a file: the package must not make them. Checked on the
# syntax tree of every module of bmnas_dsl, so that a new loader cannot slip one in.
FORBIDDEN_MODULES = {"pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve"}
# Known exceptions (none now: `bmnas report` recompiles a run's genotype.bmg rather than
# importing its model.py). An entry that no longer matches fails the test, so the list
# cannot go stale.
KNOWN_IMPORTS_OF_FILES: set[tuple[str, str]] = set()


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    """Every call with the dotted name it is made through (`torch.load`, `eval`)."""
    return [
        (ast.unparse(node.func), node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    ]


def _keyword(call: ast.Call, name: str) -> object:
    for item in call.keywords:
        if item.arg == name and isinstance(item.value, ast.Constant):
            return item.value.value
    return None


def test_no_loader_in_the_package_can_unpickle_or_run_code():
    problems, known = [], set()
    for path in sorted((REPO / "bmnas_dsl").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(REPO / "bmnas_dsl")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                )
                for module in names:
                    if module.split(".")[0] in FORBIDDEN_MODULES:
                        problems.append(f"{where}: imports {module}")
                loads = [a.name for a in node.names if a.name == "load"]
                if isinstance(node, ast.ImportFrom) and loads:  # torch's, numpy's ...
                    problems.append(f"{where}: imports load from {node.module}")
        for name, call in _calls(tree):
            line = f"{where}:{call.lineno}"
            if name == "torch.load" and _keyword(call, "weights_only") is not True:
                problems.append(f"{line}: torch.load without weights_only=True")
            if (
                name in ("np.load", "numpy.load")
                and _keyword(call, "allow_pickle") is not False
            ):
                problems.append(f"{line}: np.load without allow_pickle=False")
            if name in (
                "eval",
                "exec",
                "compile",
                "__import__",
                "os.system",
                "os.popen",
            ):
                problems.append(f"{line}: calls {name}()")
            if name in ("torch.jit.load", "torch.hub.load") or name.startswith(
                "pickle."
            ):
                problems.append(f"{line}: calls {name}()")
            if _keyword(call, "shell") is True:
                problems.append(f"{line}: runs a shell")
            if name.endswith("import_generated") and where.name != "loader.py":
                # Generated code only: the argument must be render_module's output.
                argument = ast.unparse(call.args[0]) if call.args else ""
                if "render_module" not in argument and not _bound_to_render(
                    tree, argument
                ):
                    if (where.name, "import_generated") in KNOWN_IMPORTS_OF_FILES:
                        known.add((where.name, "import_generated"))
                    else:
                        problems.append(f"{line}: import_generated({argument})")
    assert problems == []
    assert known == KNOWN_IMPORTS_OF_FILES, "fixed? then remove it from the list"


def _bound_to_render(tree: ast.AST, name: str) -> bool:
    """Whether `name` is assigned from render_module(...) somewhere in the module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and "render_module" in ast.unparse(node.value):
            targets = [ast.unparse(t) for t in node.targets]
            if name in targets or any(name in t for t in targets):
                return True
    return False


def test_malicious_pickles_are_never_executed(tmp_path):
    """A weights file in torch.save's zip format, one in the legacy pickle format under
    a .safetensors name, and .npz / .npy inputs holding an object array: each would
    create `marker` if unpickled; each is refused."""
    import torch

    from bmnas_dsl.backend.infer import InferError, read_inputs
    from bmnas_dsl.backend.weights import WeightsError, read_state_dict

    marker = tmp_path / "pwned"
    torch.save({"head.classifier.bias": PickleExploit(str(marker))}, tmp_path / "z.pt")
    with open(tmp_path / "p.safetensors", "wb") as handle:
        pickle.dump({"w": PickleExploit(str(marker))}, handle)
    evil = np.empty(1, dtype=object)
    evil[0] = PickleExploit(str(marker))
    np.savez(tmp_path / "x.npz", **{"v.a": evil})
    np.save(tmp_path / "x.npy", evil, allow_pickle=True)
    for path in ("z.pt", "p.safetensors"):
        with pytest.raises(WeightsError, match="cannot read weights"):
            read_state_dict(tmp_path / path)
    for path in ("x.npz", "x.npy"):
        with pytest.raises(InferError):
            read_inputs(tmp_path / path)
    assert not marker.exists()


# ------------------------------------------------------------------- 3. clear errors


def _tiny_onnx(path: Path, outputs: int = 1) -> None:
    """A two-input ONNX model (v.a: (N, 4), w.b: (N, 2, 3)) -> logits (N, 3), built
    directly: the infer checks do not need the exporter."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def value(name: str, shape: list) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    weights = [
        numpy_helper.from_array(np.ones((4, 3), np.float32), "w1"),
        numpy_helper.from_array(np.ones((6, 3), np.float32), "w2"),
        numpy_helper.from_array(np.array([0, -1], np.int64), "flat_shape"),
    ]
    nodes = [
        helper.make_node("MatMul", ["v.a", "w1"], ["h1"]),
        helper.make_node("Reshape", ["w.b", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w2"], ["h2"]),
        helper.make_node("Add", ["h1", "h2"], ["logits"]),
    ]
    results = [value("logits", ["N", 3]), value("h1", ["N", 3])][:outputs]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [value("v.a", ["N", 4]), value("w.b", ["N", 2, 3])],
        results,
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_infer_errors_are_one_line(tmp_path):
    """Missing, extra, mis-shaped, mis-typed, empty or non-finite inputs, files that are
    not .npz or not ONNX, and outputs that cannot be written: exit 1, one line, and an
    existing output left as it was."""
    model, two = tmp_path / "m.onnx", tmp_path / "two.onnx"
    _tiny_onnx(model)
    _tiny_onnx(two, outputs=2)
    a = np.ones((2, 4), np.float32)
    b = np.ones((2, 2, 3), np.float32)
    inputs = {
        "good": {"v.a": a, "w.b": b},
        "missing": {"v.a": a},
        "extra": {"v.a": a, "w.b": b, "z.c": a},
        "shape": {"v.a": a, "w.b": np.ones((2, 3, 2), np.float32)},
        "rank": {"v.a": a, "w.b": np.ones((2, 6), np.float32)},
        "dtype": {"v.a": a.astype(np.int64), "w.b": b},
        "bool": {"v.a": a.astype(bool), "w.b": b},
        "batch": {"v.a": a, "w.b": np.ones((3, 2, 3), np.float32)},
        "empty": {"v.a": a[:0], "w.b": b[:0]},
        "nan": {"v.a": a * np.nan, "w.b": b},
    }
    for name, arrays in inputs.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
    (tmp_path / "text.npz").write_text("not a zip")
    np.save(tmp_path / "bare.npy", a)
    kept = tmp_path / "kept.npz"
    kept.write_bytes(b"previous logits")
    (tmp_path / "adir").mkdir()

    def infer(inputs_name: str, *extra: str, onnx_path: Path = model) -> list[str]:
        return [
            "infer",
            str(onnx_path),
            "--inputs",
            str(tmp_path / inputs_name),
            *extra,
        ]

    cases = [
        (infer("missing.npz", "-o", str(kept)), ["missing ['w.b']"]),
        (infer("extra.npz"), ["unexpected ['z.c']"]),
        (infer("shape.npz"), ["input 'w.b' has shape [2, 3, 2]; expected ['N', 2, 3]"]),
        (infer("rank.npz"), ["input 'w.b' has shape [2, 6]"]),
        (infer("dtype.npz"), ["input 'v.a' has dtype int64; expected floats"]),
        (infer("bool.npz"), ["dtype bool"]),
        (infer("batch.npz"), ["batch size 3, others 2"]),
        (infer("empty.npz"), ["no samples"]),
        (infer("nan.npz"), ["NaN or Inf"]),
        (infer("text.npz"), ["not a readable .npz"]),
        (infer("bare.npy"), ["one .npy array"]),
        (infer("nothere.npz"), ["no such file"]),
        (infer("good.npz", onnx_path=tmp_path / "good.npz"), ["not a loadable ONNX"]),
        (infer("good.npz", onnx_path=tmp_path / "adir"), ["not a file"]),
        (infer("good.npz", onnx_path=two), ["has 2 outputs"]),
        (infer("good.npz", "-o", str(tmp_path / "adir")), ["cannot write", "Is a directory"]),
        (infer("good.npz", "-o", str(tmp_path / "no" / "o.npz")), ["cannot write", "No such file"]),
        (infer("good.npz", "-o", str(kept / "o.npz")), ["cannot write", "Not a directory"]),
    ]  # fmt: skip
    results = run_cli_many([argv for argv, _ in [(infer("good.npz"), []), *cases]])
    assert results[0]["status"] == 0 and "logits [2, 3]" in results[0]["stdout"]
    for (_, words), result in zip(cases, results[1:], strict=True):
        assert_one_line_error(result, "bmnas infer: error: ", *words)
    assert kept.read_bytes() == b"previous logits"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_export_weights_errors_are_one_line_and_write_nothing(tmp_path):
    """Weights of another genotype, of wrong shapes, truncated, not a state dict, a
    directory, missing: exit 1, one line, the previous export kept, no temporary file."""
    import torch
    from safetensors.torch import save_file

    genotype = tmp_path / "g.bmg"
    genotype.write_text(MINIMAL)
    other = analyse_text(MINIMAL.replace("Attention(s1, y)", "ConcatFC(s1, y)"))
    other_model = import_generated(
        render_module(other.pruned, Source("o.bmg", MINIMAL))
    ).Model()
    save_file(other_model.state_dict(), str(tmp_path / "other.safetensors"))
    own = import_generated(
        render_module(analyse_text(MINIMAL).pruned, Source("g.bmg", MINIMAL))
    ).Model()
    state = own.state_dict()
    state["head.classifier.bias"] = torch.zeros(7)
    torch.save(state, tmp_path / "shape.pt")
    data = (tmp_path / "other.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    torch.save([1, 2, 3], tmp_path / "list.pt")
    (tmp_path / "noise.pt").write_bytes(os.urandom(256))
    (tmp_path / "empty.safetensors").write_bytes(b"")
    out = tmp_path / "out.onnx"
    out.write_bytes(b"previous export")
    cases = [
        ("other.safetensors", ["weights do not fit this genotype", "missing: "]),
        ("shape.pt", ["wrong shape: head.classifier.bias (7,) (model: (3,))"]),
        ("cut.safetensors", ["cannot read weights"]),
        ("list.pt", ["not a state_dict"]),
        ("noise.pt", ["cannot read weights"]),
        ("empty.safetensors", ["cannot read weights"]),
        ("nothere.pt", ["no such file"]),
        (".", ["cannot read weights"]),
    ]
    commands = [
        ["export", str(genotype), "-o", str(out), "--weights", str(tmp_path / name)]
        for name, _ in cases
    ]
    commands.append(["export", str(genotype), "-o", str(tmp_path)])  # a directory
    results = run_cli_many(commands)
    for (_, words), result in zip(cases, results, strict=False):
        assert_one_line_error(result, "bmnas export: error: ", *words)
    assert_one_line_error(results[-1], "bmnas export: error: cannot write", "directory")
    assert out.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_data_errors_are_one_line(tmp_path):
    """Unknown names (the message lists the valid ones), paths that are no bank, banks
    with malformed metadata, and a genotype whose shapes the data set does not have."""
    from bmnas_dsl.data.bank import FeatureBank, save_bank

    rng = np.random.default_rng(0)
    bank = FeatureBank(
        features={"v.f1": rng.standard_normal((6, 4, 3)).astype(np.float32)},
        labels=np.arange(6) % 3,
        split=np.array([0, 1, 2] * 2, dtype=np.int8),
        task="multiclass",
        classes=3,
    )
    save_bank(bank, tmp_path / "bank.npz")
    with np.load(tmp_path / "bank.npz") as archive:
        arrays = dict(archive)
    meta = json.loads(str(arrays["meta"]))
    for name, broken in {
        "nofeatures": {**meta, "modalities": [{"name": "v"}]},
        "notalist": {**meta, "modalities": 5},
        "list": [1, 2],
        "info": {**meta, "info": 7},
    }.items():
        np.savez(
            tmp_path / f"{name}.npz", **{**arrays, "meta": np.array(json.dumps(broken))}
        )
    (tmp_path / "text.npz").write_text("hello")
    genotype = tmp_path / "g.bmg"  # planted has a.f1 : [8, 6]; this says [8, 5]
    genotype.write_text(
        "bmg 1\nmodel m {\n    dims C = 4, L = 2\n    classes 4\n"
        "    modality a {\n        f1 : [8, 5]\n        f4 : [32]\n    }\n"
        "    cell c (x = a.f1, y = a.f4) {\n        s = Sum(x, y)\n        out = s\n"
        "    }\n    output c\n}\n"
    )
    cases = [
        (["data", "NOPE"], ["unknown data 'NOPE'", "mfeat, planted"]),
        (["data", ""], ["unknown data ''"]),
        (["data", "planted:x"], ["unknown data 'planted:x'"]),
        (["data", "mfeat:nope"], ["nope"]),
        (["data", str(tmp_path)], ["is a directory"]),
        (["data", str(tmp_path / "text.npz")], ["not a feature bank"]),
        (["data", "planted", "--genotype", str(genotype)], ["feature 'a.f1' is [8, 6] in the bank but [8, 5] in the genotype"]),
        (["data", "planted", "--genotype", str(tmp_path / "nothere.bmg")], ["cannot read file"]),
    ] + [
        (["data", str(tmp_path / f"{name}.npz")], ["not a valid feature bank"])
        for name in ("nofeatures", "notalist", "list", "info")
    ]  # fmt: skip
    results = run_cli_many([argv for argv, _ in cases])
    for (argv, words), result in zip(cases, results, strict=True):
        missing_genotype = argv[-1].endswith("nothere.bmg")  # a front-end message
        prefix = f"{argv[-1]}: error: " if missing_genotype else "bmnas data: error: "
        assert_one_line_error(result, prefix, *words)


def test_compile_outputs_that_cannot_be_written_are_one_line(tmp_path):
    example = str(REPO / "examples" / "sum.bmg")
    (tmp_path / "adir").mkdir()
    (tmp_path / "file").write_text("x")
    cases = [
        (tmp_path / "adir", "Is a directory"),
        (tmp_path / "file" / "m.py", "Not a directory"),
        (tmp_path / "no" / "m.py", "No such file or directory"),
    ]
    results = run_cli_many([["compile", example, "-o", str(t)] for t, _ in cases])
    for (target, reason), result in zip(cases, results, strict=True):
        assert_one_line_error(
            result, f"bmnas compile: error: cannot write {target}: {reason}"
        )
    assert sorted(p.name for p in (tmp_path / "adir").iterdir()) == []


def test_a_closed_pipe_and_an_ascii_terminal_are_clean_exits(tmp_path):
    big = tmp_path / "big.bmg"
    big.write_text(scaling.chain(300))
    command = [sys.executable, "-m", "bmnas_dsl", "ir", "--json", str(big)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(1)
        proc.stdout.close()  # the reader leaves, as `| head -c 1` does
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0, stderr
    assert stderr == ""
    closed = subprocess.run(  # stdout closed from the start: sys.stdout is None
        f"'{sys.executable}' -m bmnas_dsl check '{big}' >&-",
        shell=True,
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert closed.returncode == 0 and closed.stderr == "", closed.stderr
    text = MINIMAL.replace("classes 3", "classes 3  # caf\u00e9")
    (tmp_path / "accent.bmg").write_text(text)
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    result = run_bmnas("fmt", str(tmp_path / "accent.bmg"), env=env)
    assert result.returncode == 1
    assert result.stderr.strip().endswith("set PYTHONIOENCODING=utf-8"), result.stderr
    assert "Traceback" not in result.stderr


def test_reliability_doc_names_every_test_here():
    """docs/reliability.md lists what is tested: every test of this file is named there."""
    doc = (REPO / "docs" / "reliability.md").read_text()
    tree = ast.parse(Path(__file__).read_text())
    tests = [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]
    missing = [name for name in tests if f"`{name}`" not in doc]
    assert missing == []
    assert f"{MAX_SOURCE_BYTES:,}" in doc
    assert sum(FUZZ_CASES.values()) and str(sum(FUZZ_CASES.values())) in doc.replace(
        ",", ""
    )


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
