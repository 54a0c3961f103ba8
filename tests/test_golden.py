"""Golden files per front-end stage for every example: IR JSON, pruned IR JSON, info JSON.

Regenerate with `make golden` (BMNAS_REGEN_GOLDEN=1); review the diff before committing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from conftest import EXAMPLES, REPO, run_bmnas

from bmnas_dsl.ir.graph import dumps_json
from bmnas_dsl.passes.describe import describe
from bmnas_dsl.passes.pipeline import analyse_file

GOLDEN = REPO / "tests" / "golden"
REGENERATE = os.environ.get("BMNAS_REGEN_GOLDEN") == "1"


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
    for name, text in stages(example).items():
        golden = folder / name
        if REGENERATE:
            folder.mkdir(parents=True, exist_ok=True)
            golden.write_text(text, encoding="utf-8")
        assert golden.exists(), f"{golden} missing: run `make golden`"
        assert text == golden.read_text(encoding="utf-8"), f"{golden} is stale"


def test_every_golden_folder_has_an_example():
    assert sorted(p.name for p in GOLDEN.iterdir()) == sorted(e.stem for e in EXAMPLES)


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_cli_json_equals_golden(example):
    folder = GOLDEN / example.stem
    path = str(example.relative_to(REPO))
    ir = run_bmnas("ir", path, "--json", cwd=REPO)
    info = run_bmnas("info", path, "--json", cwd=REPO)
    assert ir.returncode == 0 and info.returncode == 0, ir.stderr + info.stderr
    assert json.loads(ir.stdout) == json.loads((folder / "ir.json").read_text())
    assert json.loads(info.stdout) == json.loads((folder / "info.json").read_text())
