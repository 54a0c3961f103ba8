"""grammar/ and templates/ ship inside the package and are found from any directory, for
the editable install of .venv and for a normal install from a built wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import MINIMAL, REPO

PROBE = (
    "import bmnas_dsl, importlib.resources as r\n"
    "from bmnas_dsl.resources import grammar_text, templates_dir\n"
    "from bmnas_dsl.passes.pipeline import analyse_text\n"
    "assert 'start:' in grammar_text()\n"
    "assert templates_dir().is_dir()\n"
    "print(bmnas_dsl.__file__)\n"
    "print(r.files('bmnas_dsl.grammar').joinpath('bmg.lark'))\n"
    "import sys; print(analyse_text(sys.stdin.read()).ok)\n"
)


def probe(cwd: Path, env: dict | None = None) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        input=MINIMAL,
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_editable_install_finds_the_repository_grammar(tmp_path):
    package, grammar, ok = probe(tmp_path)
    assert Path(package).parent == REPO / "bmnas_dsl"
    assert Path(grammar) == REPO / "grammar" / "bmg.lark"
    assert ok == "True"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(out),
            str(REPO),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [built] = out.glob("bmnas-*.whl")
    return built


def test_wheel_contains_grammar_and_templates(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "bmnas_dsl/grammar/bmg.lark" in names
    assert "bmnas_dsl/data/mfeat.tar.xz" in names
    assert "bmnas_dsl/data/MFEAT-ATTRIBUTION.md" in names
    assert "bmnas_dsl/templates/module.py.j2" in names
    assert "bmnas_dsl/templates/__init__.py" in names
    assert not [n for n in names if n.startswith(("tests/", "examples/", "grammar/"))]


def test_normal_install_finds_the_packaged_grammar(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--quiet",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    # PYTHONPATH comes before the editable finder, so the installed copy is the one used.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}
    package, grammar, ok = probe(elsewhere, env)
    assert Path(package).is_relative_to(target)
    assert Path(grammar) == target / "bmnas_dsl" / "grammar" / "bmg.lark"
    assert ok == "True"


def test_wheel_contains_every_module_of_the_package(wheel):
    """A subpackage missing from pyproject's list would vanish from installs silently."""
    names = set(zipfile.ZipFile(wheel).namelist())
    sources = [
        path.relative_to(REPO).as_posix()
        for path in (REPO / "bmnas_dsl").rglob("*.py")
        if "__pycache__" not in path.parts
    ]
    assert sources
    missing = [name for name in sources if name not in names]
    assert not missing, f"not in the wheel: {missing}"
