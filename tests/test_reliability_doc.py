"""docs/reliability.md says how untrusted input is tested: it names every file of those
tests and every test in them, with the figures the tests use."""

from __future__ import annotations

import ast

from conftest import REPO
from reliability_helpers import FUZZ_CASES

from bmnas_dsl.passes.pipeline import MAX_SOURCE_BYTES

# The test files that docs/reliability.md covers test by test (before issue 11, one
# file: tests/test_reliability_input.py).
COVERED = [
    "tests/lang/test_untrusted_source.py",
    "tests/lang/test_fuzz.py",
    "tests/backend/test_codegen_safety.py",
    "tests/test_no_code_execution.py",
    "tests/cli/test_cli_errors.py",
    "tests/test_reliability_doc.py",
]


def test_reliability_doc_names_every_test_of_its_files():
    """docs/reliability.md lists what is tested: every file above and every test of
    these files is named there."""
    doc = (REPO / "docs" / "reliability.md").read_text()
    missing = [path for path in COVERED if f"`{path}`" not in doc]
    for path in COVERED:
        tree = ast.parse((REPO / path).read_text())
        tests = [
            node.name
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        ]
        missing += [f"{path}::{name}" for name in tests if f"`{name}`" not in doc]
    assert missing == []
    assert f"{MAX_SOURCE_BYTES:,}" in doc
    assert sum(FUZZ_CASES.values()) and str(sum(FUZZ_CASES.values())) in doc.replace(
        ",", ""
    )
