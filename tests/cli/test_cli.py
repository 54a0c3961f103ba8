"""The command line as a user meets it: exit codes, messages, no tracebacks, no torch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import EXAMPLES, MINIMAL, REPO, run_bmnas

from bmnas_dsl.version import __version__


def test_check_accepts_every_example():
    result = run_bmnas("check", *(str(e) for e in EXAMPLES))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count(": ok") == len(EXAMPLES)
    assert "error[" not in result.stderr


def test_check_reports_each_invalid_file_and_exits_1(write):
    bad = write(MINIMAL.replace("Sum", "Summ"), "bad.bmg")
    good = write(MINIMAL, "good.bmg")
    result = run_bmnas("check", str(good), str(bad))
    assert result.returncode == 1
    assert f"{good}: ok" in result.stdout
    assert f"{bad}: 1 error(s)" in result.stderr


@pytest.mark.parametrize(
    "argv",
    [[], ["check"], ["frobnicate"], ["fmt", "--check", "--write", "x.bmg"], ["info"]],
)
def test_usage_errors_exit_2(argv):
    result = run_bmnas(*argv)
    assert result.returncode == 2
    assert "usage:" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_and_version():
    assert run_bmnas("--help").returncode == 0
    for command in ("check", "fmt", "ir", "info"):
        assert run_bmnas(command, "--help").returncode == 0
    assert run_bmnas("--version").stdout.strip() == f"bmnas {__version__}"


def test_missing_file_is_a_clear_error(tmp_path):
    path = tmp_path / "nope.bmg"
    for command in ("check", "fmt", "ir", "info"):
        result = run_bmnas(command, str(path))
        assert result.returncode == 1
        assert (
            f"{path}: error: cannot read file: No such file or directory"
            in result.stderr
        )
        assert "Traceback" not in result.stderr


def test_binary_input_is_a_located_error(tmp_path):
    path = tmp_path / "binary.bmg"
    path.write_bytes(b"bmg 1\nmodel m {\n  \xff\xfe }\n")
    result = run_bmnas("check", str(path))
    assert result.returncode == 1
    assert (
        f"{path}:3:3: error[E001]: file is not UTF-8 text (byte 0xff)" in result.stderr
    )


def test_info_json_matches_the_contract():
    result = run_bmnas("info", str(REPO / "examples" / "ntu_config1.bmg"), "--json")
    info = json.loads(result.stdout)
    assert info["model"] == "ntu_config1"
    assert info["inputs"] == [
        {"name": "video.layer4", "shape": [2048, 8, 8, 8]},
        {"name": "video.pooled", "shape": [2048]},
        {"name": "skeleton.fc7", "shape": [512]},
    ]
    assert set(info["params"]) == {"reshape", "cells", "head", "classifier", "total"}
    assert info["params"]["total"] == sum(
        v for k, v in info["params"].items() if k != "total"
    )


def test_info_and_ir_text_output():
    info = run_bmnas("info", str(REPO / "examples" / "mha.bmg"))
    assert info.returncode == 0
    assert "head2 = Attention(y, x)" in info.stdout
    assert "total" in info.stdout
    ir = run_bmnas("ir", str(REPO / "examples" / "mha.bmg"))
    assert (
        "step:fuse.head1" in ir.stdout
        and "input:fuse.x -> step:fuse.head1" in ir.stdout
    )


def test_invalid_file_gives_no_ir_or_info(write):
    path = write(MINIMAL.replace("classes 3", "classes 0"))
    for command in ("ir", "info"):
        result = run_bmnas(command, str(path), "--json")
        assert result.returncode == 1
        assert result.stdout == ""
        assert "error[E009]" in result.stderr


@pytest.mark.parametrize("command", ["check", "fmt", "ir", "info"])
def test_front_end_commands_never_import_torch(command):
    example = str(REPO / "examples" / "ntu_config1.bmg")
    code = (
        "import sys, io\n"
        "from contextlib import redirect_stdout as out, redirect_stderr as err\n"
        "from bmnas_dsl.cli.main import main\n"
        "with out(io.StringIO()), err(io.StringIO()):\n"
        f"    status = main([{command!r}, {example!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'numpy'))\n"
        "print(status, heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True
    )
    assert result.stdout.strip() == "0 []", result.stdout + result.stderr


@pytest.mark.parametrize("command", ["compile", "export"])
def test_unwritable_output_is_a_clear_error(command, tmp_path):
    suffix = ".py" if command == "compile" else ".onnx"
    target = tmp_path / "missing" / f"model{suffix}"
    result = run_bmnas(command, str(REPO / "examples" / "sum.bmg"), "-o", str(target))
    assert result.returncode == 1
    assert f"error: cannot write {target}: No such file or directory" in result.stderr
    assert "Traceback" not in result.stderr
