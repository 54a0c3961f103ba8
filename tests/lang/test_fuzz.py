"""Fuzzing the front end with the generators and checks of benchmarks/fuzz.py
(docs/reliability.md): in process, through real `bmnas check` and `bmnas fmt --check`
processes, and the benchmark script itself for a few cases."""

from __future__ import annotations

import json
import random
import re

import pytest
from conftest import run_bmnas
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_helpers import FUZZ_CASES, load_benchmark

fuzz = load_benchmark("fuzz")

SMALL_SIZES = (10, 1_000, 10_000)  # extreme inputs up to about 40 kB in the suite


def _generate(name: str, seed: int) -> bytes:
    rng = random.Random(seed)
    if name == "extreme":
        return fuzz.extreme(rng, SMALL_SIZES)
    if name == "undefined_refs":
        return fuzz.undefined_refs(rng, (10, 1_000))
    return fuzz.GENERATORS[name](rng)


@pytest.mark.parametrize("generator", list(FUZZ_CASES))
def test_fuzzed_inputs_get_a_clear_answer(generator):
    """The benchmark's generators and checks (benchmarks/fuzz.py): nothing raises, every
    diagnostic renders located and terminal-safe, fmt round-trips what parses."""

    @settings(
        max_examples=FUZZ_CASES[generator],
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    @given(seed=st.integers(0, 2**64 - 1))
    def run(seed: int) -> None:
        outcome = fuzz.check_case(_generate(generator, seed))
        assert outcome.status != "crash", outcome.detail

    run()


@settings(max_examples=5, deadline=None, database=None)
@given(seed=st.integers(0, 2**64 - 1))
def test_fuzzed_files_through_the_command_line(tmp_path_factory, seed):
    """20 fuzzed files per example through real `bmnas check` and `bmnas fmt --check`
    processes: exit 0 or 1, a summary per file, never a traceback."""
    folder = tmp_path_factory.mktemp("fuzz")
    rng = random.Random(seed)
    names = list(FUZZ_CASES)
    paths = []
    for index in range(20):
        path = folder / f"f{index}.bmg"
        path.write_bytes(_generate(names[index % len(names)], rng.getrandbits(64)))
        paths.append(str(path))
    check = run_bmnas("check", *paths)
    assert check.returncode in (0, 1), check.stderr[-2000:]
    for path in paths:  # a summary line per file: nothing stopped the command early
        failed = re.search(
            rf"^{re.escape(path)}: [0-9]+ error\(s\)", check.stderr, re.M
        )
        assert f"{path}: ok" in check.stdout or failed, path
    fmt = run_bmnas("fmt", "--check", *paths)
    assert fmt.returncode in (0, 1)
    for result in (check, fmt):
        assert "Traceback" not in result.stderr
        assert "internal error" not in result.stderr


def test_the_fuzz_benchmark_runs_and_writes_its_figures(tmp_path, capsys):
    out = tmp_path / "fuzz.json"
    status = fuzz.main(["--cases", "21", "--seconds", "60", "--json", str(out)])
    assert status == 0
    data = json.loads(out.read_text())
    assert data["cases"] == 21 and data["crashes"] == []
    assert set(data["generators"]) == set(fuzz.GENERATORS)
    assert "crash" in capsys.readouterr().out
