"""The public Python API (docs/api.md): its worked example runs as written, and every
public name resolves to what its table says."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import REPO

import bmnas_dsl

DOC = REPO / "docs" / "api.md"


def worked_example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "docs/api.md has one worked example"
    return blocks[0]


def test_the_worked_example_runs(tmp_path):
    # A fresh interpreter in an empty folder, as a reader would run it.
    script = tmp_path / "example.py"
    script.write_text(worked_example())
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "torch.Size([2, 4])" in result.stdout
    assert "refused: genotype.bmg is not a valid genotype:" in result.stdout
    for made in (
        "concat.onnx",
        "planted.npz",
        "searched.bmg",
        "search.run",
        "train.run",
    ):
        assert (tmp_path / made).exists(), made
    assert not (tmp_path / "bad.run").exists()  # a refused genotype creates nothing


def test_every_public_name_resolves_and_is_documented():
    documented = DOC.read_text(encoding="utf-8")
    for name in bmnas_dsl.__all__:
        assert getattr(bmnas_dsl, name) is not None, name
        if not name.endswith("Error") and name != "__version__":
            assert f"`{name}" in documented, f"{name} is not in docs/api.md"
    assert sorted(dir(bmnas_dsl)) == dir(bmnas_dsl)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = bmnas_dsl.nope


def test_no_public_name_is_shadowed_by_a_subpackage():
    # Importing bmnas_dsl.X sets the attribute X on the package: a public function of
    # that name would be replaced by the subpackage after the first such import.
    subpackages = {p.name for p in (REPO / "bmnas_dsl").iterdir() if p.is_dir()}
    assert not subpackages & set(bmnas_dsl.__all__)


def test_errors_share_one_base():
    for name in bmnas_dsl.__all__:
        value = getattr(bmnas_dsl, name)
        if isinstance(value, type) and issubclass(value, Exception):
            assert issubclass(value, bmnas_dsl.BmnasError), name


def test_import_is_light():
    code = "import sys, bmnas_dsl; print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'lark', 'networkx')))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_the_lazy_table_lists_exactly_the_api_modules_names():
    # bmnas_dsl/__init__.py cannot import bmnas_dsl.api to read its __all__ (that would
    # load the front end on `import bmnas_dsl`), so the two lists are kept equal here.
    from bmnas_dsl import _LAZY, api

    assert {n for n, m in _LAZY.items() if m == "bmnas_dsl.api"} == set(api.__all__)
