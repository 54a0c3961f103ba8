"""Helpers shared by the tests of untrusted input that docs/reliability.md describes
(tests/lang/test_untrusted_source.py, tests/lang/test_fuzz.py, tests/cli/test_cli_errors.py,
tests/test_reliability_doc.py): the benchmark scripts as modules, many CLI commands in
one interpreter, the one-line-error check, and the fuzz counts of `make test`."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from conftest import REPO


def load_benchmark(name: str) -> ModuleType:
    """benchmarks/NAME.py: the suite runs its generators and checks for a short while.
    Loaded once per session, however many test modules ask for it."""
    if f"bmnas_{name}" in sys.modules:
        return sys.modules[f"bmnas_{name}"]
    spec = importlib.util.spec_from_file_location(
        f"bmnas_{name}", REPO / "benchmarks" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


# One fresh interpreter runs many commands through `bmnas_dsl.cli.main.main`, each with its
# own captured streams: the CLI's code paths and exit codes at the cost of one start.
CLI_MANY = r"""
import contextlib, io, json, sys, traceback
from bmnas_dsl.cli.main import main
results = []
for argv in json.load(sys.stdin):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exc:
            status = exc.code
        except BaseException:
            status = "escaped"
            traceback.print_exc()
    results.append({"status": status, "stdout": out.getvalue(), "stderr": err.getvalue()})
print(json.dumps(results))
"""


def run_cli_many(commands: list[list[str]], cwd: Path | None = None) -> list[dict]:
    proc = subprocess.run(
        [sys.executable, "-c", CLI_MANY],
        input=json.dumps(commands),
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def assert_one_line_error(result: dict, prefix: str, *words: str) -> None:
    """Exit 1, nothing on stdout, and exactly one line on stderr: the message."""
    stderr = result["stderr"]
    assert result["status"] == 1 and result["stdout"] == "", result
    assert "Traceback" not in stderr and "internal error" not in stderr, stderr
    assert stderr.count("\n") == 1 and stderr.startswith(prefix), stderr
    for word in words:
        assert word in stderr, (word, stderr)


FUZZ_CASES = {  # generator -> hypothesis examples in `make test`
    "random_bytes": 1_000,
    "random_text": 1_000,
    "token_soup": 800,
    "byte_mutation": 1_500,
    "line_mutation": 800,
    "lookalike": 400,
    "extreme": 150,
    "undefined_refs": 30,
}
