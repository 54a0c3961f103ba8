"""Crash safety: `bmnas search` and `bmnas train` killed with SIGKILL at several moments
and resumed each time end with the same result as an uninterrupted run."""

from __future__ import annotations

import io
import json
import os
import random
import re
import subprocess
import sys
import time
import tokenize
from pathlib import Path

import pytest
import torch
from conftest import REPO

from bmnas_dsl.data.bank import save_bank
from bmnas_dsl.data.planted import make_planted

BMNAS = [sys.executable, "-m", "bmnas_dsl"]
# f-strings are tokenised in parts from Python 3.12; their text is a message too.
_FSTRING_PARTS = {getattr(tokenize, "FSTRING_MIDDLE", -1)}
# Each entry: wait until the run's log holds this many epochs, then this much longer.
# The extra delays are drawn once (seeded), so the kills land inside epochs, between a
# log write and a checkpoint write, or in the final writes, not only at boundaries.
_draw = random.Random(7)
KILL_POINTS = [(0, _draw.uniform(0.0, 0.05)), (2, _draw.uniform(0.0, 0.2))]
KILL_POINTS += [(4, _draw.uniform(0.0, 0.2)), (5, _draw.uniform(0.1, 0.3))]
EPOCHS = 7


@pytest.fixture(scope="module")
def bank_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bank") / "planted.npz"
    save_bank(make_planted(size=480, seed=1), path)
    return path


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _epochs_logged(log: Path) -> int:
    try:
        return len(log.read_text().splitlines())
    except FileNotFoundError:
        return 0


def run_killed(args: list[str], run_dir: Path, epochs: int, delay: float) -> bool:
    """Start `bmnas ARGS`, SIGKILL it `delay` s after its log shows `epochs` epochs (and
    its settings exist). False if it finished before the kill came."""
    process = subprocess.Popen(
        BMNAS + args, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        ready = (run_dir / "settings.json").exists()
        if ready and _epochs_logged(run_dir / "log.jsonl") >= epochs:
            break
        time.sleep(0.005)
    time.sleep(delay)
    if process.poll() is not None:
        return False
    process.kill()  # SIGKILL: no cleanup handler runs
    process.wait()
    return True


def run_to_end(args: list[str]) -> None:
    result = subprocess.run(
        BMNAS + args, env=_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr


def _strip_time(genotype: str) -> str:
    return re.sub(r"search_seconds = [0-9.]+", "", genotype)


def _without_timings(text: str) -> list[dict]:
    """Log entries without what only the clock decides (the search time)."""
    entries = [json.loads(line) for line in text.splitlines()]
    for entry in entries:
        entry.pop("seconds")
        if "genotype" in entry:
            entry["genotype"] = _strip_time(entry["genotype"])
    return entries


def survive_kills(start: list[str], resume: list[str], run_dir: Path) -> int:
    """Kill a run at every KILL_POINT (resuming after each), then resume to the end.
    Returns how many kills landed before the run finished."""
    kills = 0
    for number, (epochs, delay) in enumerate(KILL_POINTS):
        kills += run_killed(start if number == 0 else resume, run_dir, epochs, delay)
    run_to_end(resume)
    return kills


def test_train_killed_and_resumed_gives_the_same_result(bank_path, tmp_path, write):
    genotype = write(
        "bmg 1\nmodel m {\n dims C = 16, L = 4\n classes 4\n task multiclass\n"
        " dropout 0.2\n modality a { f3 : [16, 6] }\n modality b { f2 : [16, 6] }\n"
        " cell c (x = a.f3, y = b.f2) {\n  s1 = ConcatFC(x, y)\n  s2 = LinearGLU(s1, y)\n"
        "  out = s1, s2\n }\n output c\n}\n"
    )
    common = ["--data", str(bank_path), "--epochs", str(EPOCHS), "--threads", "1"]
    common += ["--batch-size", "8"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    run_to_end(["train", str(genotype), "-o", str(whole), *common])
    kills = survive_kills(
        ["train", str(genotype), "-o", str(cut), *common],
        ["train", "-o", str(cut), "--resume"],
        cut,
    )
    assert kills >= 3, f"only {kills} kills landed before the run ended"
    assert (cut / "weights.safetensors").read_bytes() == (
        whole / "weights.safetensors"
    ).read_bytes()
    metrics = [json.loads((d / "metrics.json").read_text()) for d in (whole, cut)]
    for m in metrics:
        m.pop("train_seconds")
    assert metrics[0] == metrics[1]
    assert _without_timings((cut / "log.jsonl").read_text()) == _without_timings(
        (whole / "log.jsonl").read_text()
    )


def test_search_killed_and_resumed_gives_the_same_result(bank_path, tmp_path):
    common = ["--data", str(bank_path), "--epochs", str(EPOCHS), "--threads", "1"]
    common += ["--C", "8", "--L", "2", "--cells", "2", "--steps", "1"]
    common += ["--batch-size", "16"]
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    run_to_end(
        ["search", "-o", str(tmp_path / "whole.bmg"), "--run-dir", str(whole), *common]
    )
    kills = survive_kills(
        ["search", "-o", str(tmp_path / "cut.bmg"), "--run-dir", str(cut), *common],
        ["search", "--resume", "--run-dir", str(cut)],
        cut,
    )
    assert kills >= 3, f"only {kills} kills landed before the run ended"

    # The search time differs; nothing else may.
    assert _strip_time((tmp_path / "cut.bmg").read_text()) == _strip_time(
        (tmp_path / "whole.bmg").read_text()
    )
    states = [torch.load(d / "checkpoint.pt", weights_only=True) for d in (whole, cut)]
    assert states[0]["epoch"] == states[1]["epoch"] == EPOCHS
    for name, tensor in states[0]["model"].items():
        assert torch.equal(tensor, states[1]["model"][name]), name
    assert _without_timings((cut / "log.jsonl").read_text()) == _without_timings(
        (whole / "log.jsonl").read_text()
    )


# -- a failed command leaves existing files alone -------------------------------------


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_new_run_never_replaces_a_finished_one(bank_path, tmp_path, write):
    genotype = write(
        "bmg 1\nmodel m {\n dims C = 8, L = 2\n classes 4\n"
        " modality a { f3 : [16, 6] }\n modality b { f2 : [16, 6] }\n"
        " cell c (x = a.f3, y = b.f2) {\n  s1 = Sum(x, y)\n  out = s1\n }\n"
        " output c\n}\n"
    )
    data = ["--data", str(bank_path), "--epochs", "1", "--threads", "1"]
    train = ["train", str(genotype), "-o", str(tmp_path / "t"), *data]
    search = ["search", "-o", str(tmp_path / "s.bmg"), *data, "--C", "8"]
    search += ["--L", "2", "--cells", "1", "--steps", "1"]
    for args, folder in ((train, tmp_path / "t"), (search, tmp_path / "s.run")):
        run_to_end(args)
        before = _snapshot(folder)
        again = subprocess.run(BMNAS + args, env=_env(), capture_output=True, text=True)
        assert again.returncode == 1
        assert "already holds a run" in again.stderr and "--overwrite" in again.stderr
        assert _snapshot(folder) == before
        run_to_end([*args, "--overwrite"])


def test_failed_commands_leave_existing_outputs_untouched(tmp_path, write):
    repo_sum = REPO / "examples" / "sum.bmg"
    broken = write("bmg 1\nmodel m {\n classes 0\n}\n")
    existing = {}
    for name in ("model.py", "model.onnx", "arch.bmg"):
        existing[name] = tmp_path / name
        existing[name].write_bytes(b"precious " + name.encode())
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"not a safetensors file")
    onnx = str(existing["model.onnx"])
    failing = [
        ["compile", str(broken), "-o", str(existing["model.py"])],
        ["export", str(broken), "-o", str(existing["model.onnx"])],
        ["export", str(repo_sum), "-o", onnx, "--weights", str(weights)],
        ["search", "--data", "no-such-data", "-o", str(existing["arch.bmg"])],
    ]
    for args in failing:
        result = subprocess.run(
            BMNAS + args, env=_env(), capture_output=True, text=True
        )
        assert result.returncode == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
    for name, path in existing.items():
        assert path.read_bytes() == b"precious " + name.encode()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [*existing, "w.safetensors", broken.name]
    )  # no temporary file left behind


def test_package_writes_files_only_atomically():
    """Every file the package writes goes through fileio.write_atomic (or lands in a
    private temporary directory first): a grep that fails when a direct write appears."""
    # torch.save into an in-memory buffer is fine: the bytes then go to write_atomic.
    direct = re.compile(
        r"\.write_(text|bytes)\(|open\([^)]*['\"][wa]b?['\"]|\.save\((?!.*buffer\))"
    )
    allowed = {
        "fileio.py": "the atomic writer itself",
        "loader.py": "writes into its own TemporaryDirectory",
        "export.py": "saves into a temporary file, then replace_atomic",
    }
    offenders = []
    for path in sorted((REPO / "bmnas_dsl").rglob("*.py")):
        for number, line in code_lines(path):
            if direct.search(line) and path.name not in allowed:
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert not offenders, offenders
    # The grep reads code, not what messages and docstrings say about torch.save.
    [(_, blanked)] = code_lines_of('"torch.save(m, PATH)"  # open(p, "w")\n')
    assert direct.search("x.write_text(y)") and not direct.search(blanked)


def code_lines(path: Path) -> list[tuple[int, str]]:
    return code_lines_of(path.read_text())


def code_lines_of(text: str) -> list[tuple[int, str]]:
    """Each line's code with string literals and comments blanked out."""
    lines = text.splitlines()
    kept = {i: list(line) for i, line in enumerate(lines, 1)}
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type in (tokenize.STRING, tokenize.COMMENT) or (
            token.type in _FSTRING_PARTS
        ):
            (row, col), (end_row, end_col) = token.start, token.end
            for r in range(row, end_row + 1):
                start = col if r == row else 0
                stop = end_col if r == end_row else len(kept[r])
                kept[r][start:stop] = " " * (stop - start)
    return [(i, "".join(chars)) for i, chars in kept.items()]
