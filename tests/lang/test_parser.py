"""The parser: AST shape, spans, syntax messages and the on-disk grammar cache."""

from __future__ import annotations

import os
import pickle
import stat

import pytest
from conftest import MINIMAL, PickleExploit, run_bmnas

from bmnas_dsl.lang import ast
from bmnas_dsl.lang.diagnostics import BmgError
from bmnas_dsl.lang.parser import parse


def test_ast_of_the_minimal_genotype():
    tree = parse(MINIMAL)
    assert tree.version.value == 1
    [model] = tree.models
    assert model.name == "tiny"
    assert model.dims[0].entries == (ast.DimEntry("C", 8), ast.DimEntry("L", 4))
    assert [m.name for m in model.modalities] == ["a", "b"]
    assert model.modalities[1].features[0] == ast.Feature("g1", (12, 3, 3))
    c1 = model.cells[0]
    assert (c1.x.text, c1.y.text) == ("a.f1", "b.g1")
    assert c1.steps[1] == ast.Step(
        "s2", "Attention", (ast.Ref(("s1",)), ast.Ref(("y",)))
    )
    assert [r.text for r in c1.outs[0].refs] == ["s1", "s2"]
    assert [r.text for r in model.outputs[0].refs] == ["c1", "c2"]


def test_spans_point_into_the_text():
    tree = parse(MINIMAL)
    step = tree.models[0].cells[0].steps[1]
    lines = MINIMAL.splitlines()
    assert (step.span.line, step.span.column) == (18, 9)
    assert (
        lines[17][step.op_span.column - 1 : step.op_span.end_column - 1] == "Attention"
    )
    assert MINIMAL[step.span.start : step.span.end] == "s2 = Attention(s1, y)"


def test_keywords_are_names_where_the_grammar_expects_a_name():
    text = MINIMAL.replace("modality b", "modality cell").replace("b.g1", "cell.g1")
    tree = parse(text)
    assert tree.models[0].modalities[1].name == "cell"


def test_syntax_error_names_the_expected_tokens():
    with pytest.raises(BmgError) as raised:
        parse(MINIMAL.replace("out = s1, s2", "out s1, s2"))
    [diagnostic] = raised.value.diagnostics
    assert diagnostic.code == "E001"
    assert "'='" in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.column) == (19, 13)


def test_huge_integers_do_not_hang_or_crash():
    text = MINIMAL.replace("classes 3", "classes " + "9" * 5000)
    tree = parse(text)
    assert tree.models[0].classes[0].value > 2**31


def test_grammar_cache_is_private_and_survives_corruption(tmp_path):
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    path = tmp_path / "model.bmg"
    path.write_text(MINIMAL)
    assert run_bmnas("check", str(path), env=env).returncode == 0
    [cache] = (tmp_path / "bmnas").iterdir()
    assert stat.S_IMODE((tmp_path / "bmnas").stat().st_mode) == 0o700
    cache.write_bytes(b"garbage\n" + os.urandom(64))
    result = run_bmnas("check", str(path), env=env)
    assert result.returncode == 0
    assert result.stderr == ""


def test_unwritable_cache_directory_is_not_an_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = {**os.environ, "XDG_CACHE_HOME": str(blocker)}
    path = tmp_path / "model.bmg"
    path.write_text(MINIMAL)
    result = run_bmnas("check", str(path), env=env)
    assert result.returncode == 0
    assert result.stderr == ""


@pytest.mark.parametrize("mode, executed", [(0o666, False), (0o644, True)])
def test_a_grammar_cache_others_could_write_is_never_loaded(tmp_path, mode, executed):
    """Lark reads its cache with pickle. A cache file that group or others may write
    (mode 666) is ignored; the private one (644) is loaded, which is why the check is
    needed: there the planted pickle runs and creates the marker."""
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}
    path = tmp_path / "model.bmg"
    path.write_text(MINIMAL)
    assert run_bmnas("check", str(path), env=env).returncode == 0
    [cache] = (tmp_path / "bmnas").iterdir()
    marker = tmp_path / "pwned"
    cache.write_bytes(b"hash\n" + pickle.dumps(PickleExploit(str(marker))))
    cache.chmod(mode)
    result = run_bmnas("check", str(path), env=env)
    assert result.returncode == 0, result.stderr
    assert marker.exists() is executed
