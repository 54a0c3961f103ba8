"""Shared helpers: paths, a CLI runner, and a small valid genotype to mutate."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO / "examples").glob("*.bmg"))

# A small valid genotype; tests replace parts of it to provoke one problem at a time.
MINIMAL = """\
bmg 1

model tiny {
    dims C = 8, L = 4
    classes 3

    modality a {
        f1 : [16, 5]
        f2 : [32]
    }

    modality b {
        g1 : [12, 3, 3]
    }

    cell c1 (x = a.f1, y = b.g1) {
        s1 = Sum(x, y)
        s2 = Attention(s1, y)
        out = s1, s2
    }

    cell c2 (x = c1, y = a.f2) {
        s1 = LinearGLU(x, y)
        out = s1
    }

    output c1, c2
}
"""


class PickleExploit:
    """Unpickling this creates the file `marker`: proof that a pickle was executed."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def run_bmnas(*args: str, cwd: Path | None = None, env: dict | None = None):
    """Run the CLI in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "bmnas_dsl", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


@pytest.fixture
def write(tmp_path: Path):
    """Write text to a .bmg file in the test's directory and return its path."""

    def _write(text: str, name: str = "model.bmg") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write
