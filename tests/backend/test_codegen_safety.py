"""A genotype cannot put code into the generated module (docs/reliability.md, "No code
execution"): Python keywords, builtins and dunders are refused as names, valid names that
collide with the module's are renamed and compile, meta strings and keys, the source file
name and comments cannot change the code."""

from __future__ import annotations

import ast
import keyword

import pytest
from conftest import MINIMAL
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmnas_dsl.backend.codegen import Source, render_module
from bmnas_dsl.backend.loader import import_generated
from bmnas_dsl.lang.names import identifier_problem
from bmnas_dsl.passes.describe import describe
from bmnas_dsl.passes.pipeline import analyse_text

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
