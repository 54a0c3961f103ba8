"""`torchrun ... -m bmnas_dsl search|train` on the CPU with gloo, launched for real: the
same genotype and metrics as one process at the same global batch, rank 0 alone writing
the run directory, and a job that loses a rank ending at once with its checkpoint
intact, then resumed (by hand, or by torchrun's own restart) to the result of a run
that was never interrupted."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO

from bmnas_dsl.data.bank import save_bank
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.runs.files import load_checkpoint

BMNAS = [sys.executable, "-m", "bmnas_dsl"]
# Small and quick: the selection's candidates and re-ranking cut down, not switched off.
SEARCH = ["--epochs", "2", "--candidates", "16", "--rerank", "2"]
SEARCH += ["--rerank-epochs", "2", "--rerank-tail", "1"]
PAPER = ["--epochs", "4", "--selection", "paper"]  # no selection phase: cheap epochs
TRAIN = ["--epochs", "2", "--holdout", "val"]
# A hang guard, not a speed check: a job hung on a collective would never end; one
# that lost a rank ends in seconds.
HANG_S = 120


def torchrun(ranks: int, *args: str, restarts: int = 0) -> list[str]:
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc-per-node={ranks}",
        f"--max-restarts={restarts}",
        "-m",
        "bmnas_dsl",
        *args,
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "BMNAS_DIST_TIMEOUT": "60"}


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("torchrun")
    save_bank(make_planted(size=480, seed=1), folder / "planted.npz")
    return folder


def without_seconds(text: str) -> str:
    """A genotype without its timing line (the only thing the world size may change)."""
    return "\n".join(line for line in text.splitlines() if "seconds" not in line)


def log(run_dir: Path) -> list[dict]:
    return [
        json.loads(line) for line in (run_dir / "log.jsonl").read_text().splitlines()
    ]


def assert_same_numbers(one: object, other: object, where: str = "") -> None:
    """Equal up to float reduction order: numbers within 1e-4 relative, the rest
    identical (timings and genotypes' timing lines aside)."""
    if isinstance(one, dict):
        assert isinstance(other, dict) and set(one) == set(other), where
        for key in one:
            if "seconds" not in key:
                assert_same_numbers(one[key], other[key], f"{where}.{key}")
    elif isinstance(one, list):
        assert isinstance(other, list) and len(one) == len(other), where
        for i, (a, b) in enumerate(zip(one, other, strict=True)):
            assert_same_numbers(a, b, f"{where}[{i}]")
    elif isinstance(one, float):
        assert math.isclose(one, other, rel_tol=1e-4, abs_tol=1e-6), (where, one, other)
    elif isinstance(one, str):
        assert without_seconds(one) == without_seconds(other), where
    else:
        assert one == other, where


@pytest.fixture(scope="module")
def one_process_search(work: Path) -> Path:
    run([*BMNAS, "search", "--data", "planted.npz", *SEARCH, "-o", "one.bmg"], work)
    return work / "one.run"


def test_search_on_two_ranks_equals_one_process(work: Path, one_process_search: Path):
    result = run(
        torchrun(2, "search", "--data", "planted.npz", *SEARCH, "-o", "two.bmg"), work
    )
    assert result.stdout.count("wrote two.bmg") == 1  # rank 0 alone reports
    one, two = (work / "one.bmg").read_text(), (work / "two.bmg").read_text()
    assert without_seconds(one) == without_seconds(two)
    assert_same_numbers(log(one_process_search), log(work / "two.run"))
    settings = json.loads((work / "two.run" / "settings.json").read_text())
    assert (settings["world_size"], settings["global_batch_size"]) == (2, 64)
    single = json.loads((one_process_search / "settings.json").read_text())
    assert single["world_size"] == 1
    own = ("world_size", "output")
    assert {k: v for k, v in settings.items() if k not in own} == {
        k: v for k, v in single.items() if k not in own
    }


@pytest.fixture(scope="module")
def one_process_training(work: Path, one_process_search: Path) -> Path:
    """The searched genotype (dropout 0.1, batch norm in every op) trained alone."""
    args = [str(work / "one.bmg"), "--data", "planted.npz", *TRAIN]
    run([*BMNAS, "train", *args, "-o", "t1"], work)
    return work / "t1"


@pytest.mark.parametrize("ranks", [2, 3])
def test_training_on_ranks_equals_one_process(
    work: Path, one_process_training: Path, ranks: int
):
    """Three ranks split each 64-row batch 21/21/22 and the last, 32-row one
    10/11/11: uneven slices, the same gradients."""
    from safetensors.numpy import load_file

    genotype = work / "one.bmg"
    args = [str(genotype), "--data", "planted.npz", *TRAIN, "-o", f"t{ranks}"]
    run(torchrun(ranks, "train", *args), work)
    assert_same_numbers(log(work / "t1"), log(work / f"t{ranks}"))
    metrics = [
        json.loads((work / d / "metrics.json").read_text()) for d in ("t1", f"t{ranks}")
    ]
    assert_same_numbers(metrics[0], metrics[1])
    one, many = (
        load_file(work / d / "weights.safetensors") for d in ("t1", f"t{ranks}")
    )
    assert one.keys() == many.keys()
    differences = np.concatenate([abs(one[k] - many[k]).ravel() for k in one])
    # Float noise: nearly every value agrees to 1e-5. A parameter whose true gradient
    # is zero (a convolution's bias ahead of batch norm) is moved by Adam by up to lr
    # per step on noise alone, so the largest difference is bounded by lr x steps.
    steps = 2 * 5  # epochs x batches of the 288 training rows
    assert np.quantile(differences, 0.99) < 1e-5
    assert differences.max() < 1e-3 * steps


API_SCRIPT = """
import sys
import torch.distributed as dist
import bmnas_dsl as bm

dist.init_process_group("gloo")  # the script's own process group: bmnas joins it
text = open("one.bmg").read()
bm.run_training(text, "planted.npz", "api", epochs=2, holdout="val")
assert dist.is_initialized()  # and leaves it to the script
dist.destroy_process_group()
"""


def test_the_python_api_under_torchrun(work: Path, one_process_training: Path):
    (work / "api_script.py").write_text(API_SCRIPT)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    run([*launcher, "--nproc-per-node=2", "api_script.py"], work)
    expected = json.loads((one_process_training / "metrics.json").read_text())
    got = json.loads((work / "api" / "metrics.json").read_text())
    assert_same_numbers(
        {k: v for k, v in expected.items() if k not in ("genotype", "data")},
        {k: v for k, v in got.items() if k not in ("genotype", "data")},
    )


def _workers(launcher: subprocess.Popen) -> dict[int, int]:
    """The rank -> pid of torchrun's worker processes (its children)."""
    found: dict[int, int] = {}
    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children")
    for pid in children.read_text().split():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        for entry in environ:
            if entry.startswith(b"RANK="):
                found[int(entry[5:])] = int(pid)
    return found


def kill_rank_after(
    command: list[str], cwd: Path, log_path: Path, epochs: int, rank: int
):
    """Start `command`, SIGKILL rank `rank` once the log holds `epochs` epochs; return
    the launcher's exit code, stdout and stderr. A job still running HANG_S after the
    kill is hung (a collective waiting for the dead rank): the test fails."""
    launcher = subprocess.Popen(
        command,
        cwd=cwd,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        lines = log_path.read_text().count("\n") if log_path.exists() else 0
        if lines >= epochs or launcher.poll() is not None:
            break
        time.sleep(0.01)
    workers = _workers(launcher)
    assert rank in workers, f"no rank {rank} among {workers}"
    os.kill(workers[rank], signal.SIGKILL)
    try:
        stdout, stderr = launcher.communicate(timeout=HANG_S)
    except subprocess.TimeoutExpired:
        launcher.kill()
        launcher.communicate()
        pytest.fail(f"the job did not end after rank {rank} was killed: hung")
    return launcher.returncode, stdout, stderr


@pytest.fixture(scope="module")
def uninterrupted_paper_search(work: Path) -> Path:
    run([*BMNAS, "search", "--data", "planted.npz", *PAPER, "-o", "whole.bmg"], work)
    return work / "whole.run"


def test_a_killed_rank_ends_the_job_and_resume_finishes_it(
    work: Path, uninterrupted_paper_search: Path
):
    command = torchrun(2, "search", "--data", "planted.npz", *PAPER, "-o", "cut.bmg")
    code, _, stderr = kill_rank_after(
        command, work, work / "cut.run" / "log.jsonl", epochs=1, rank=1
    )
    assert code != 0
    # Rank 0 says what happened in one line, and keeps its checkpoint.
    assert "rank 0 of 2: the job lost contact with its other processes" in stderr
    assert "internal error" not in stderr  # (torchrun's own traceback follows)
    state = load_checkpoint(work / "cut.run" / "checkpoint.pt", RuntimeError)
    assert state["epoch"] >= 1
    assert not (work / "cut.bmg").exists()
    resume = ["search", "--resume", "--run-dir", "cut.run", "-o", "cut.bmg"]
    run(torchrun(2, *resume), work)
    whole, cut = ((work / f"{n}.bmg").read_text() for n in ("whole", "cut"))
    assert without_seconds(whole) == without_seconds(cut)
    assert_same_numbers(log(uninterrupted_paper_search), log(work / "cut.run"))


def test_torchrun_restart_resumes_the_run(work: Path, uninterrupted_paper_search: Path):
    """Rank 0, the writer, is killed; torchrun restarts the job, which continues the
    run from its checkpoint instead of refusing the directory the first attempt used."""
    command = torchrun(
        2, "search", "--data", "planted.npz", *PAPER, "-o", "again.bmg", restarts=1
    )
    code, stdout, stderr = kill_rank_after(
        command, work, work / "again.run" / "log.jsonl", epochs=1, rank=0
    )
    assert code == 0, stderr[-3000:]
    assert stdout.count("wrote again.bmg") == 1
    whole, again = ((work / f"{n}.bmg").read_text() for n in ("whole", "again"))
    assert without_seconds(whole) == without_seconds(again)
    assert_same_numbers(log(uninterrupted_paper_search), log(work / "again.run"))
