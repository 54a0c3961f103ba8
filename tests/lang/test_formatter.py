"""The canonical form: layout, order, comments, and `bmnas fmt --check / --write`."""

from __future__ import annotations

import os

from conftest import MINIMAL, run_bmnas

from bmnas_dsl.lang.formatter import format_file
from bmnas_dsl.lang.parser import parse

MESSY = """# file comment
bmg   1
model   m{classes 3   # three digits
dims C=8,L=4 task multilabel
  meta{b=1e-3 a="q\\"uote\\\\"}
 # the cell comes first in the text
 cell c1(x=a.f1,y=b.g){s1=Sum(x,y) # add
 out=s1}
modality a{f1:[16,5] longer_name:[3]}
modality b{g:[2]
 # dangling in b
}
output c1 }
# trailing file comment
"""

CANONICAL = """# file comment
bmg 1

model m {
    dims C = 8, L = 4
    classes 3  # three digits
    task multilabel

    meta {
        b = 1e-3
        a = "q\\"uote\\\\"
    }

    modality a {
        f1          : [16, 5]
        longer_name : [3]
    }

    modality b {
        g : [2]
        # dangling in b
    }

    # the cell comes first in the text
    cell c1 (x = a.f1, y = b.g) {
        s1 = Sum(x, y)  # add
        out = s1
    }

    output c1
}
# trailing file comment
"""


def test_messy_file_gets_the_canonical_form():
    assert format_file(parse(MESSY)) == CANONICAL


def test_canonical_form_is_a_fixed_point_and_means_the_same():
    assert format_file(parse(CANONICAL)) == CANONICAL
    assert parse(CANONICAL) == parse(MESSY)


def test_meta_string_escapes_round_trip():
    [entry_b, entry_a] = parse(CANONICAL).models[0].meta[0].entries
    assert entry_a.value == 'q"uote\\'
    assert entry_b.value == 0.001 and entry_b.text == "1e-3"


def test_fmt_check_and_write(write):
    messy = write(MESSY)
    canonical = write(CANONICAL, "canonical.bmg")
    check = run_bmnas("fmt", "--check", str(messy), str(canonical))
    assert check.returncode == 1
    assert f"would reformat {messy}" in check.stderr
    assert str(canonical) not in check.stderr
    assert messy.read_text() == MESSY  # --check never writes

    mode = 0o640
    os.chmod(messy, mode)
    written = run_bmnas("fmt", "--write", str(messy))
    assert written.returncode == 0, written.stderr
    assert messy.read_text() == CANONICAL
    assert os.stat(messy).st_mode & 0o777 == mode  # rewriting keeps permissions
    assert run_bmnas("fmt", "--check", str(messy)).returncode == 0
    assert not [p for p in messy.parent.iterdir() if p.name.endswith(".tmp")]


def test_fmt_to_stdout(write):
    result = run_bmnas("fmt", str(write(MESSY)))
    assert result.returncode == 0
    assert result.stdout == CANONICAL


def test_fmt_refuses_a_syntax_error_and_leaves_the_file_alone(write):
    broken = MINIMAL.replace("classes 3", "classes = 3")
    path = write(broken)
    result = run_bmnas("fmt", "--write", str(path))
    assert result.returncode == 1
    assert "error[E001]" in result.stderr
    assert path.read_text() == broken


def test_fmt_formats_a_parseable_but_invalid_model(write):
    # Formatting needs only the syntax, like gofmt: validation errors do not block it.
    path = write(MINIMAL.replace("Sum(x, y)", "Summ(x,y)"))
    result = run_bmnas("fmt", str(path))
    assert result.returncode == 0
    assert "s1 = Summ(x, y)" in result.stdout
