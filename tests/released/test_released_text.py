"""The printed `Genotype(...)` form: read without evaluation, from a file of its own or
from a training log (the last one by default, or --index K), with located errors."""

from __future__ import annotations

import pytest
from released_forms import MMIMDB_README, NTU_CONFIG1

from bmnas_dsl.errors import ReleasedGenotypeError
from bmnas_dsl.released import genotype as stand_ins
from bmnas_dsl.released.source import load_released
from bmnas_dsl.released.text import read_printed

# Where the value of `concat=` starts in NTU_CONFIG1 (1-based), for located messages.
CONCAT_COLUMN = NTU_CONFIG1.rindex("concat=") + len("concat=") + 1
SECOND_EPOCH = NTU_CONFIG1.replace("('skip', 7)", "('skip', 6)")
LOG = f"""\
08/24 01:21:50 PM args = Namespace(C=128, L=8, steps=2, node_steps=2)
08/24 01:30:02 PM Fusion Model Params: 1111
08/24 01:30:02 PM {MMIMDB_README}
08/24 01:40:10 PM Fusion Model Params: 2222
08/24 01:40:10 PM {SECOND_EPOCH}
08/24 01:40:11 PM train Loss: 1.0 Acc: 0.5
08/24 01:50:12 PM {NTU_CONFIG1}
08/24 01:50:12 PM Final Test Acc: 0.9
"""


def test_the_printed_form_reads_as_stand_ins_and_prints_back_the_same():
    printed = read_printed(NTU_CONFIG1, "g.txt")
    assert type(printed.genotype) is stand_ins.Genotype
    assert repr(printed.genotype) == NTU_CONFIG1
    assert (printed.line, printed.column, printed.count) == (1, 1, 1)


def test_the_last_genotype_of_a_log_is_taken_and_step_genotypes_are_not_counted():
    printed = read_printed(LOG, "log.txt")
    assert printed.count == 3  # StepGenotype( is not a start
    assert repr(printed.genotype) == NTU_CONFIG1
    assert (printed.line, printed.column) == (7, 19)
    # No params line since the previous genotype: none is paired with this one.
    assert printed.logged_params is None


@pytest.mark.parametrize(
    "index, expected, line, params",
    [
        (1, MMIMDB_README, 3, (2, 1111)),
        (2, SECOND_EPOCH, 5, (4, 2222)),
        (3, NTU_CONFIG1, 7, None),
        (-1, NTU_CONFIG1, 7, None),
        (-3, MMIMDB_README, 3, (2, 1111)),
    ],
)
def test_index_chooses_a_genotype_and_its_epochs_params_line(
    index, expected, line, params
):
    printed = read_printed(LOG, "log.txt", index)
    assert repr(printed.genotype) == expected
    assert printed.line == line
    assert printed.logged_params == params


@pytest.mark.parametrize("index", [4, -4, 0])
def test_an_index_beyond_the_log_is_one_line(index):
    with pytest.raises(ReleasedGenotypeError) as error:
        read_printed(LOG, "log.txt", index)
    assert str(error.value) == (
        f"log.txt: --index {index} is not one of its 3 printed genotype(s) (1..3 from "
        "the first, -1..-3 from the last)"
    )


def test_keyword_positional_and_range_forms_are_read():
    positional = (
        "Genotype([('skip', 0), ('skip', 4), ('skip', 1), ('skip', 4)], "
        "[StepGenotype([('skip', 0), ('skip', 1)], ['LinearGLU'], range(2, 3)), "
        "StepGenotype(inner_steps=['LinearGLU'], inner_edges=[('skip', 1), "
        "('skip', 0)], inner_concat=[2])], concat=range(6, 8))"
    )
    assert repr(read_printed(positional, "g.txt").genotype) == MMIMDB_README


def test_a_genotype_written_over_several_lines_is_read_with_its_positions():
    text = "best:\n" + NTU_CONFIG1.replace("], steps=[", "],\n    steps=[").replace(
        "], concat=[8", "],\n    concat=[8"
    )
    printed = read_printed(text, "g.txt")
    assert repr(printed.genotype) == NTU_CONFIG1
    assert printed.positions[("concat",)] == (4, len("    concat=") + 1)
    assert printed.positions[("steps", 1, "inner_steps", 0)][0] == 3


@pytest.mark.parametrize(
    "planted, found",
    [
        (
            "__import__('os').system('touch {m}')",
            "a call of \"__import__('os').system\"",
        ),
        ("eval(\"open('{m}', 'w')\")", "a call of 'eval'"),
        ("os.system", "the attribute 'system'"),
        ("edges", "the name 'edges'"),
        ("[x for x in range(3)]", "an expression (ListComp)"),
        ("1 + 1", "an expression (BinOp)"),
        ("None", "the constant None"),
        ("2.5", "the constant 2.5"),
        ("(lambda: 0)()", "a call of 'lambda: 0'"),
    ],
)
def test_anything_but_literals_is_refused_where_it_stands(planted, found, tmp_path):
    marker = tmp_path / "pwned"
    text = NTU_CONFIG1.replace("concat=[8, 9]", f"concat={planted.format(m=marker)}")
    column = CONCAT_COLUMN
    with pytest.raises(ReleasedGenotypeError) as error:
        read_printed("x = 1\n" + text, "g.txt")
    message = str(error.value)
    assert message.startswith(f"g.txt:2:{column}: {found} cannot appear in a released")
    assert "nothing is evaluated" in message and "\n" not in message
    assert not marker.exists()


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "epoch 3\n" + NTU_CONFIG1[:120],
            "g.txt:2:1: this Genotype( is never closed (a truncated log?)",
        ),
        (
            NTU_CONFIG1.replace("], concat", "],, concat"),
            "g.txt:1:",  # a syntax error, located by the parser
        ),
        (
            NTU_CONFIG1.replace(", concat=", ", kontakt="),
            f"g.txt:1:{CONCAT_COLUMN + 1}: Genotype(...) has no field 'kontakt' (its "
            "fields: edges, steps, concat)",
        ),
        (
            NTU_CONFIG1.replace(", concat=[8, 9]", ""),
            "g.txt:1:1: Genotype(...) lacks concat",
        ),
        (
            NTU_CONFIG1.replace("concat=[8, 9]", "concat=range(0, 10**9)"),
            f"g.txt:1:{CONCAT_COLUMN + len('range(0, ')}: range(...) takes integers "
            "only",
        ),
        (
            NTU_CONFIG1.replace("concat=[8, 9]", "concat=range(0, 1000000)"),
            f"g.txt:1:{CONCAT_COLUMN}: range(...): a range of more than 10000 values",
        ),
        (
            "no genotype here\n",
            "g.txt: neither a genotype pickle nor text holding a printed Genotype(...)",
        ),
    ],
)
def test_malformed_printed_forms_get_one_located_line(text, message):
    with pytest.raises(ReleasedGenotypeError) as error:
        load_released(text.encode(), "g.txt")
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_columns_count_characters_not_bytes():
    # ast counts UTF-8 bytes; the message counts characters, as an editor does.
    text = "époque 1: " + NTU_CONFIG1.replace("'LinearGLU', 'LinearGLU'", "'Linéaire'")
    printed = read_printed(text, "g.txt")
    path = ("steps", 0, "inner_steps", 0)
    assert printed.positions[path] == (1, text.index("'Linéaire'") + 1)
    assert printed.where("g.txt", path).startswith(
        f"g.txt:1:{text.index(chr(39) + 'Linéaire') + 1}: steps[0].inner_steps[0]"
    )


def test_a_bom_and_crlf_line_ends_are_fine():
    data = ("\ufeffepoch 1\r\n" + NTU_CONFIG1 + "\r\n").encode()
    released = load_released(data, "g.txt")
    assert released.kind == "text" and released.line == 2
    assert repr(released.genotype) == NTU_CONFIG1


def test_deep_nesting_is_one_line_not_a_crash():
    text = "Genotype(edges=" + "[" * 5000 + "]" * 5000 + ", steps=[], concat=[])"
    with pytest.raises(ReleasedGenotypeError) as error:
        load_released(text.encode(), "g.txt")
    assert str(error.value).startswith("g.txt:1:")
    assert "not a printed genotype: too many nested parentheses" in str(error.value)
