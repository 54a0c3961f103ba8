"""`bmnas train --compile`: a compiled run learns, is deterministic for its seed and
resumes to the uninterrupted result; the mode is a setting of the run; a compile
failure or a torchrun job is one clear line. (Its speed: benchmarks/train_step.py and
benchmarks/train_compile.py.)"""

from __future__ import annotations

import json

import pytest
import torch
from conftest import run_bmnas_here
from test_train import MFEAT_GENOTYPE, interrupted_training

from bmnas_dsl.parallel.world import World
from bmnas_dsl.runs.layout import METRICS, SETTINGS, WEIGHTS
from bmnas_dsl.train import runner
from bmnas_dsl.train.runner import Trainer, TrainError, train_genotype
from bmnas_dsl.train.settings import TrainSettings

COMPILED = TrainSettings(epochs=3, threads=1, seed=3, compile="default")


@pytest.fixture(scope="module")
def compiled_run(mfeat, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("compiled") / "run"
    metrics = train_genotype(
        MFEAT_GENOTYPE, mfeat, COMPILED, run_dir, show_progress=False
    )
    return run_dir, metrics


def test_a_compiled_run_learns_and_records_its_mode(compiled_run):
    run_dir, metrics = compiled_run
    assert metrics["test"]["accuracy"] > 0.6  # chance is 0.1 (fou + zer: about 0.86)
    recorded = json.loads((run_dir / SETTINGS).read_text())["settings"]
    assert recorded["compile"] == "default"


def test_the_compiled_network_is_what_trains(mfeat, monkeypatch, tmp_path):
    calls = []
    original = runner.compiled

    def watched(model, mode):
        calls.append(mode)
        return original(model, mode)

    monkeypatch.setattr(runner, "compiled", watched)
    trainer = Trainer(
        runner.compile_genotype(MFEAT_GENOTYPE, "m.bmg")[1], mfeat, COMPILED
    )
    assert calls == ["default"]
    assert trainer.network is not trainer.model  # the OptimizedModule wrapper
    assert trainer.network._orig_mod is trainer.model  # checkpoints keep plain keys


def test_a_compiled_run_is_deterministic_and_resumes_to_the_same_weights(
    mfeat, compiled_run, tmp_path, monkeypatch
):
    run_dir, whole = compiled_run
    again = train_genotype(
        MFEAT_GENOTYPE, mfeat, COMPILED, tmp_path / "again", show_progress=False
    )
    assert again["test"] == whole["test"]
    assert (tmp_path / "again" / WEIGHTS).read_bytes() == (
        run_dir / WEIGHTS
    ).read_bytes()
    interrupted_training(monkeypatch, mfeat, COMPILED, tmp_path / "cut", epochs=2)
    resumed = train_genotype(
        MFEAT_GENOTYPE,
        mfeat,
        COMPILED,
        tmp_path / "cut",
        resume=True,
        show_progress=False,
    )
    assert resumed["test"] == whole["test"]
    assert (tmp_path / "cut" / WEIGHTS).read_bytes() == (run_dir / WEIGHTS).read_bytes()


def test_the_mode_is_checked_and_a_resume_keeps_it(compiled_run, tmp_path):
    assert TrainSettings(compile="fast").problems() == [
        "--compile must be one of off, default, reduce-overhead, "
        "max-autotune-no-cudagraphs, not 'fast'"
    ]
    run_dir, _ = compiled_run
    result = run_bmnas_here("train", "-o", str(run_dir), "--resume", "--compile", "off")
    assert result.returncode == 1
    assert "--compile off (the run has default)" in result.stderr


def test_a_run_from_before_the_setting_resumes_as_eager(mfeat, tmp_path, monkeypatch):
    settings = TrainSettings(epochs=2, threads=1)
    interrupted_training(monkeypatch, mfeat, settings, tmp_path, epochs=1)
    path = tmp_path / SETTINGS
    record = json.loads(path.read_text())
    del record["settings"]["compile"]  # as a run of an earlier version wrote it
    path.write_text(json.dumps(record))
    metrics = train_genotype(
        MFEAT_GENOTYPE, mfeat, settings, tmp_path, resume=True, show_progress=False
    )
    assert (tmp_path / METRICS).is_file() and metrics["test"]["accuracy"] > 0.5


def test_a_compile_failure_is_one_line(write, tmp_path, monkeypatch):
    from torch._dynamo.exc import TorchDynamoException

    class Failing(torch.nn.Module):
        def forward(self, *inputs):
            raise TorchDynamoException("no C++ compiler found for inductor\nmore")

    monkeypatch.setattr(runner, "compiled", lambda model, mode: Failing())
    out = tmp_path / "r"
    args = [str(write(MFEAT_GENOTYPE)), "--data", "mfeat", "--compile", "default"]
    result = run_bmnas_here("train", *args, "--epochs", "1", "-o", str(out))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "--compile default: torch.compile failed on this machine (no C++" in lines[0]
    assert not (out / METRICS).exists()


def test_compiling_under_torchrun_is_refused_before_anything_runs(mfeat):
    module = runner.compile_genotype(MFEAT_GENOTYPE, "m.bmg")[1]
    with pytest.raises(TrainError, match="runs in one process only"):
        Trainer(module, mfeat, COMPILED, World(rank=0, size=2))
