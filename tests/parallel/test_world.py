"""Reading torchrun's environment, the slices of a global batch, and when a restarted
command resumes its run."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bmnas_dsl.cli.launch import continues_after_restart
from bmnas_dsl.errors import DistributedError
from bmnas_dsl.parallel.world import (
    DEFAULT_TIMEOUT_S,
    SINGLE,
    World,
    backend_for,
    from_environment,
    timeout_seconds,
)


def test_no_launcher_is_a_world_of_one():
    assert from_environment({}) == SINGLE
    assert not SINGLE.distributed and SINGLE.writer


def test_torchrun_environment():
    env = {"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    world = from_environment({**env, "TORCHELASTIC_RESTART_COUNT": "2"})
    assert world == World(rank=3, size=4, local_rank=1, restarts=2)
    assert world.distributed and not world.writer


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RANK": "0"}, "WORLD_SIZE is not set"),
        ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x' is not an integer"),
        ({"RANK": "2", "WORLD_SIZE": "2"}, "RANK=2 does not fit WORLD_SIZE=2"),
        ({"RANK": "0", "WORLD_SIZE": "0"}, "RANK=0 does not fit WORLD_SIZE=0"),
    ],
)
def test_a_malformed_environment_is_one_clear_error(env, message):
    with pytest.raises(DistributedError, match=message):
        from_environment(env)


@given(rows=st.integers(0, 10_000), size=st.integers(1, 64))
def test_the_slices_are_the_global_batch_in_order(rows, size):
    bounds = [World(rank=r, size=size).bounds(rows) for r in range(size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == rows
    for (_, stop), (start, _) in itertools.pairwise(bounds):
        assert stop == start  # contiguous, in rank order
    widths = [stop - start for start, stop in bounds]
    assert max(widths) - min(widths) <= 1  # balanced


def test_backend_and_timeout():
    assert backend_for("cpu") == "gloo" and backend_for("cuda:1") == "nccl"
    assert timeout_seconds({}) == DEFAULT_TIMEOUT_S
    assert timeout_seconds({"BMNAS_DIST_TIMEOUT": "20"}) == 20
    with pytest.raises(DistributedError, match="at least 1"):
        timeout_seconds({"BMNAS_DIST_TIMEOUT": "0"})


def test_only_a_restarted_job_with_a_started_run_resumes(tmp_path: Path):
    restarted = World(rank=0, size=2, restarts=1)
    assert not continues_after_restart(restarted, tmp_path)  # nothing started yet
    (tmp_path / "settings.json").write_text("{}")
    assert continues_after_restart(restarted, tmp_path)
    assert not continues_after_restart(World(rank=0, size=2), tmp_path)
