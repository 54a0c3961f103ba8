"""The worked example, examples/extract_digits.py, end to end with tiny sizes: two
backbones trained on the shipped digits, extraction to a bank directory, and the
`bmnas search` it prints, run on that bank (issue 14, item 4)."""

from __future__ import annotations

import shlex
import subprocess
import sys

import numpy as np
from conftest import REPO, run_bmnas

from bmnas_dsl.data.bankdir import open_arrays
from bmnas_dsl.data.mfeat import read_views, stratified_split

EXAMPLE = REPO / "examples" / "extract_digits.py"
TINY_SEARCH = ["--epochs", "1", "--candidates", "4", "--rerank", "1"]
TINY_SEARCH += ["--rerank-epochs", "1", "--rerank-tail", "1"]


def test_the_example_extracts_a_bank_that_bmnas_search_reads(tmp_path):
    bank = tmp_path / "digits.bank"
    command = [sys.executable, str(EXAMPLE), "--out", str(bank)]
    example = subprocess.run(
        [*command, "--epochs", "1", "--pool", "4"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert example.returncode == 0, example.stderr
    lines = example.stdout.splitlines()
    assert lines[0].startswith("image backbone: val accuracy 0.")
    assert lines[1].startswith("contour backbone: val accuracy 0.")
    assert "capture: {'image': 'fx', 'contour': 'fx'}" in lines[2]

    meta, features, labels, split = open_arrays(bank)
    assert meta["size"] == 2000 and meta["classes"] == 10
    assert {name: array.shape[1:] for name, array in features.items()} == {
        "image.stage1": (16, 4),
        "image.stage2": (32, 4),
        "contour.early": (16, 4),
        "contour.late": (32, 4),
        "contour.pooled": (32,),
    }
    _, expected_labels = read_views()
    assert np.array_equal(labels, expected_labels)
    assert np.array_equal(split, stratified_split(expected_labels, seed=0))
    backbones = meta["info"]["extraction"]["backbones"]
    assert backbones["contour"]["layers"] == {
        "contour.early": "stage1",
        "contour.late": "stage2",
        "contour.pooled": "pooled",
    }
    assert backbones["image"]["raw_shapes"] == {
        "image.stage1": [16, 8, 7],
        "image.stage2": [32, 4, 3],
    }

    # The search the example prints, with tiny sizes, on the bank it wrote.
    [search] = [line.strip() for line in lines if "bmnas search" in line]
    argv = shlex.split(search)[1:] + TINY_SEARCH
    assert argv[:3] == ["search", "--data", str(bank)] and "--L" in argv
    result = run_bmnas(*argv, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    genotype = (tmp_path / "digits.bmg").read_text()
    assert "modality image {" in genotype and "modality contour {" in genotype
    assert "dims C = 32, L = 4" in genotype
