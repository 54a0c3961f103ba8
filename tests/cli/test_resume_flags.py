"""`--resume` takes every setting from the run; a flag given with it must agree with
the run, or the command refuses, naming both values (issue 13, item 3)."""

from __future__ import annotations

import json

import pytest
from conftest import REPO, run_bmnas_here

SEARCH = ["--epochs", "2", "--candidates", "8", "--rerank", "0", "--threads", "1"]


@pytest.fixture(scope="module")
def search_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("search")
    out = folder / "a.bmg"
    first = run_bmnas_here("search", "--data", "planted", "-o", str(out), *SEARCH)
    assert first.returncode == 0, first.stderr
    return folder / "a.run"


@pytest.fixture(scope="module")
def train_run(tmp_path_factory, search_run):
    folder = tmp_path_factory.mktemp("train")
    genotype = search_run.parent / "a.bmg"  # what the search wrote
    run = folder / "run"
    first = run_bmnas_here(
        "train", str(genotype), "--data", "planted", "-o", str(run), "--epochs", "2"
    )
    assert first.returncode == 0, first.stderr
    return genotype, run


def unchanged(run_dir, act):
    """Run `act`; return its result after checking the run directory is untouched."""
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    result = act()
    after = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    assert after == before
    return result


def test_search_resume_refuses_flags_that_differ_and_names_both_values(search_run):
    result = unchanged(
        search_run,
        lambda: run_bmnas_here(
            "search",
            "--resume",
            "--run-dir",
            str(search_run),
            "--seed",
            "5",
            "--C",
            "64",
            "--ops",
            "Sum",
            "ConcatFC",
        ),
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("bmnas search: error: ")
    assert "--C 64 (the run has 32)" in line and "--seed 5 (the run has 0)" in line
    assert (
        "--ops Sum ConcatFC (the run has Zero Sum Attention LinearGLU ConcatFC)" in line
    )


def test_search_resume_refuses_other_data(search_run):
    result = unchanged(
        search_run,
        lambda: run_bmnas_here(
            "search", "--resume", "--run-dir", str(search_run), "--data", "mfeat"
        ),
    )
    assert result.returncode == 1
    assert "--data mfeat (the run has planted)" in result.stderr


def test_search_resume_accepts_the_runs_own_values_and_another_thread_count(
    search_run,
):
    settings = json.loads((search_run / "settings.json").read_text())
    result = run_bmnas_here(
        "search", "--resume", "--run-dir", str(search_run), "--seed", "0",
        "--epochs", "2", "--C", str(settings["space"]["C"]), "--threads", "2",
        "--data", "planted",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads((search_run / "settings.json").read_text()) == settings


def test_train_resume_refuses_flags_that_differ_and_names_both_values(train_run):
    _, run = train_run
    result = unchanged(
        run,
        lambda: run_bmnas_here(
            "train", "-o", str(run), "--resume", "--epochs", "20", "--lr", "0.01"
        ),
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert (
        "--epochs 20 (the run has 2)" in line
        and "--lr 0.01 (the run has 0.001)" in line
    )


def test_train_resume_refuses_another_genotype(train_run, tmp_path):
    _, run = train_run
    other = tmp_path / "other.bmg"
    other.write_text((REPO / "examples" / "sum.bmg").read_text())
    result = unchanged(
        run, lambda: run_bmnas_here("train", str(other), "-o", str(run), "--resume")
    )
    assert result.returncode == 1
    assert f"{other} is not the run's genotype" in result.stderr


def test_train_resume_with_the_runs_genotype_and_values_continues(train_run):
    genotype, run = train_run
    result = run_bmnas_here(
        "train", str(genotype), "-o", str(run), "--resume", "--epochs", "2",
        "--holdout", "test", "--threads", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("test: accuracy")
