"""`declares_all_features = true` in a genotype's meta block (issue 13, item 12): the
file declares every feature of its data on purpose, so `check` does not warn (W004)
about the features its cells do not read. Every other warning stays, the network is
unchanged and `bmnas info` still lists the unused features as pruned."""

from __future__ import annotations

import pytest
from conftest import MINIMAL, run_bmnas

from bmnas_dsl.passes.pipeline import analyse_text

# MINIMAL with a feature no cell reads (a.spare), a Zero step (W002) and a cell that
# does not reach `output` (W003, which also leaves b.lone unread: W004).
WARNED = MINIMAL.replace(
    "        f2 : [32]\n",
    "        f2 : [32]\n        spare : [4]\n",
).replace(
    "    output c1, c2\n",
    "    cell dead (x = a.f1, y = b.lone) {\n"
    "        s1 = Zero(x, y)\n"
    "        out = s1\n"
    "    }\n\n"
    "    output c1, c2\n",
)
WARNED = WARNED.replace(
    "        g1 : [12, 3, 3]\n", "        g1 : [12, 3, 3]\n        lone : [6]\n"
)


def with_meta(value: str | None) -> str:
    if value is None:
        return WARNED
    return WARNED.replace(
        "    classes 3\n",
        f"    classes 3\n\n    meta {{\n        declares_all_features = {value}\n    }}\n",
    )


def codes(text: str) -> list[str]:
    result = analyse_text(text)
    assert result.ok, result.render_diagnostics()
    return sorted(d.code for d in result.diagnostics)


def test_without_the_mark_every_unused_feature_is_a_warning():
    assert codes(with_meta(None)) == ["W002", "W003", "W004", "W004"]
    assert codes(with_meta("false")) == codes(with_meta(None))


def test_the_mark_silences_w004_and_nothing_else():
    assert codes(with_meta("true")) == ["W002", "W003"]


def test_the_mark_changes_no_network():
    plain, marked = analyse_text(with_meta(None)), analyse_text(with_meta("true"))
    assert plain.pruned.graph["inputs"] == marked.pruned.graph["inputs"]

    def removed(result):  # spans differ by the meta block's lines
        return [
            (r["kind"], r["name"], r["reason"]) for r in result.pruned.graph["removed"]
        ]

    assert removed(plain) == removed(marked)
    assert ("feature", "a.spare", "unused") in removed(marked)


@pytest.mark.parametrize("value", ['"true"', "1", '"yes"'])
def test_another_value_keeps_the_warnings_and_says_why(value):
    result = analyse_text(with_meta(value))
    w004 = [d for d in result.diagnostics if d.code == "W004"]
    assert len(w004) == 2
    for diagnostic in w004:
        assert "declares_all_features is" in diagnostic.message
        assert "only `true` marks unused features as expected" in diagnostic.message


def test_check_is_clean_and_info_still_lists_the_unused_features(write):
    # Only the unused features: no other warning in this file.
    text = MINIMAL.replace(
        "        f2 : [32]\n", "        f2 : [32]\n        spare : [4]\n"
    )
    marked = text.replace(
        "    classes 3\n",
        "    classes 3\n\n    meta {\n        declares_all_features = true\n    }\n",
    )
    plain_path, marked_path = write(text, "plain.bmg"), write(marked, "marked.bmg")
    plain = run_bmnas("check", str(plain_path))
    assert plain.returncode == 0 and "warning[W004]" in plain.stderr, plain.stderr
    checked = run_bmnas("check", str(marked_path))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == f"{marked_path}: ok\n" and checked.stderr == ""
    info = run_bmnas("info", str(marked_path))
    assert info.returncode == 0, info.stderr
    assert "pruned: feature a.spare (unused)" in info.stdout
