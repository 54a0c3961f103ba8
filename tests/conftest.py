"""Shared helpers: paths, a CLI runner, and a small valid genotype to mutate."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tempfile
import warnings
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


# Python's own warning filters, as a fresh `python -m bmnas_dsl` has them (no -W): what
# such a process would print to stderr, `run_bmnas_here` appends to the stderr it returns.
PYTHON_DEFAULT_IGNORED = (
    PendingDeprecationWarning,
    ImportWarning,
    ResourceWarning,
    DeprecationWarning,  # shown by Python only when raised in __main__
)


def run_bmnas_here(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """The CLI in this process (`bmnas_dsl.cli.main.main`, as `python -m bmnas_dsl`
    runs it): the same code paths, exit code and streams as `run_bmnas` without a new
    interpreter's start (torch's import costs seconds). Both streams are captured at the
    file descriptors too, so what native code (ONNX Runtime, torch) prints is there,
    and so are the warnings Python would print. For the tests about a fresh process
    (imports, signals, crashes) use `run_bmnas`."""
    from bmnas_dsl.cli.main import main

    with (
        contextlib.chdir(cwd or Path.cwd()),
        _captured_fds() as native,
        contextlib.redirect_stdout(io.StringIO()) as out,
        contextlib.redirect_stderr(io.StringIO()) as err,
        warnings.catch_warnings(record=True) as caught,
    ):
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for category in PYTHON_DEFAULT_IGNORED:
            warnings.simplefilter("ignore", category)
        try:
            status = main(list(args))
        except SystemExit as exc:  # argparse's usage errors and --help
            if exc.code is None or isinstance(exc.code, int):
                status = exc.code or 0
            else:
                print(exc.code, file=sys.stderr)
                status = 1
    shown = "".join(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno, w.line)
        for w in caught
    )
    native_out, native_err = native()
    return subprocess.CompletedProcess(
        ["bmnas", *args],
        status,
        out.getvalue() + native_out,
        err.getvalue() + shown + native_err,
    )


@contextlib.contextmanager
def _captured_fds():
    """File descriptors 1 and 2 into temporary files for the block; yields a function
    that returns what was written to each (once the block has ended)."""
    texts: dict[int, str] = {}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        files = {1: out, 2: err}
        sys.stdout.flush()
        sys.stderr.flush()
        saved = {fd: os.dup(fd) for fd in files}
        for fd, file in files.items():
            os.dup2(file.fileno(), fd)
        try:
            yield lambda: (texts[1], texts[2])
        finally:
            for fd, file in files.items():
                os.dup2(saved[fd], fd)
                os.close(saved[fd])
                file.seek(0)
                texts[fd] = file.read().decode("utf-8", "replace")


@pytest.fixture
def write(tmp_path: Path):
    """Write text to a .bmg file in the test's directory and return its path."""

    def _write(text: str, name: str = "model.bmg") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return _write


def load_benchmark(monkeypatch: pytest.MonkeyPatch, name: str):
    """benchmarks/NAME.py as a module (benchmarks/ is not a package; its scripts import
    each other, so the folder goes on sys.path for the test)."""
    import importlib.util

    monkeypatch.syspath_prepend(str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        name, REPO / "benchmarks" / f"{name}.py"
    )
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def mfeat():
    """The default mfeat bank (fou + zer), prepared once for the session."""
    from bmnas_dsl.data.resolve import resolve_data

    return resolve_data("mfeat")
