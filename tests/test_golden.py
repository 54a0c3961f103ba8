"""Golden files per front-end stage for every example: IR JSON, pruned IR JSON, info JSON;
the diagnostics `bmnas check` prints for invalid input (golden/invalid/CASE.bmg ->
CASE.check); the canonical text `bmnas fmt` prints for messy input (golden/fmt/CASE/).

Regenerate with `make golden` (BMNAS_REGEN_GOLDEN=1); review the diff before committing.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from conftest import EXAMPLES, REPO, run_bmnas

from bmnas_dsl.ir.graph import dumps_json
from bmnas_dsl.passes.describe import describe
from bmnas_dsl.passes.pipeline import analyse_file

GOLDEN = REPO / "tests" / "golden"
REGENERATE = os.environ.get("BMNAS_REGEN_GOLDEN") == "1"
INVALID = sorted((GOLDEN / "invalid").glob("*.bmg"))
MESSY = sorted((GOLDEN / "fmt").glob("*/input.bmg"))
# Folders of golden files that are not one example's stages.
NOT_EXAMPLES = {"invalid", "fmt"}


def compare(golden: Path, text: str) -> None:
    """`text` equals the golden file (written instead with BMNAS_REGEN_GOLDEN=1)."""
    if REGENERATE:
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"{golden} missing: run `make golden`"
    assert text == golden.read_text(encoding="utf-8"), f"{golden} is stale"


def stages(example: Path) -> dict[str, str]:
    result = analyse_file(example.relative_to(REPO))
    assert result.ok, result.render_diagnostics()
    return {
        "ir.json": dumps_json(result.ir),
        "pruned.json": dumps_json(result.pruned),
        "info.json": json.dumps(describe(result.pruned), indent=2) + "\n",
    }


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_stages_match_golden_files(example, monkeypatch):
    monkeypatch.chdir(REPO)  # the IR records the source path as given
    folder = GOLDEN / example.stem
    if REGENERATE:
        folder.mkdir(parents=True, exist_ok=True)
    for name, text in stages(example).items():
        compare(folder / name, text)


def test_every_golden_folder_has_an_example():
    folders = sorted(p.name for p in GOLDEN.iterdir() if p.name not in NOT_EXAMPLES)
    assert folders == sorted(e.stem for e in EXAMPLES)


@pytest.mark.parametrize("case", INVALID, ids=[c.stem for c in INVALID])
def test_diagnostics_of_invalid_input_match_golden_files(case):
    # The whole answer of `bmnas check`: exit code, stdout, every diagnostic with its
    # location and caret, in order.
    result = run_bmnas("check", str(case.relative_to(REPO)), cwd=REPO)
    text = f"exit {result.returncode}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    compare(case.with_suffix(".check"), text)


def test_the_invalid_cases_cover_every_error_code():
    codes = set()
    for case in INVALID:
        text = case.with_suffix(".check").read_text(encoding="utf-8")
        codes |= set(re.findall(r"error\[(E\d{3})\]", text))
    # E015 (a file over 2 MiB) is tested without a golden file of that size.
    assert codes == {f"E{n:03d}" for n in range(1, 15)}


@pytest.mark.parametrize("case", MESSY, ids=[c.parent.name for c in MESSY])
def test_fmt_of_messy_input_matches_golden_files(case):
    result = run_bmnas("fmt", str(case.relative_to(REPO)), cwd=REPO)
    assert result.returncode == 0, result.stderr
    compare(case.with_name("expected.bmg"), result.stdout)
    # The canonical form is a fixed point and means what the messy text meant.
    again = run_bmnas("fmt", "--check", str(case.with_name("expected.bmg")), cwd=REPO)
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_cli_json_equals_golden(example):
    folder = GOLDEN / example.stem
    path = str(example.relative_to(REPO))
    ir = run_bmnas("ir", path, "--json", cwd=REPO)
    info = run_bmnas("info", path, "--json", cwd=REPO)
    assert ir.returncode == 0 and info.returncode == 0, ir.stderr + info.stderr
    assert json.loads(ir.stdout) == json.loads((folder / "ir.json").read_text())
    assert json.loads(info.stdout) == json.loads((folder / "info.json").read_text())
