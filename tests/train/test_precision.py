"""`--precision`: fp32 enters no autocast; bf16 and fp16 autocast the forward pass and
keep weights and optimiser states float32; fp16's scaler skips an overflowing update
(not a NumericError) and updates once per iteration; the setting is the run's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import run_bmnas_here
from planted_genotypes import planted_pair
from torch import nn

from bmnas_dsl.data.bank import save_bank
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.nn.precision import Precision
from bmnas_dsl.train.settings import TrainSettings

CPU = torch.device("cpu")
GENOTYPE = planted_pair("ConcatFC", "pair", C=8, L=4)


def test_fp32_enters_no_autocast():
    precision = Precision("fp32", CPU)
    layer = nn.Linear(4, 3)
    with precision.autocast():
        assert not torch.is_autocast_enabled("cpu")
        out = layer(torch.ones(2, 4))
    assert out.dtype == torch.float32 and precision.scaler is None
    loss = out.sum()
    assert precision.scaled(loss) is loss
    assert precision.state() == {}


@pytest.mark.parametrize(
    ("name", "dtype"), [("bf16", torch.bfloat16), ("fp16", torch.float16)]
)
def test_autocast_computes_low_and_keeps_float32_state(name, dtype):
    torch.manual_seed(0)
    precision = Precision(name, CPU)
    layer = nn.Linear(4, 3)
    optimiser = torch.optim.Adam(layer.parameters())
    checked = []
    for _ in range(30):  # fp16's first scales overflow: those updates are skipped
        optimiser.zero_grad()
        with precision.autocast():
            out = layer(torch.ones(2, 4))
        assert out.dtype == dtype
        precision.scaled(out.float().pow(2).sum()).backward()
        precision.step(optimiser, lambda: checked.append(True))
        if optimiser.state:
            break
    assert all(p.dtype == torch.float32 for p in layer.parameters())
    states = [t for s in optimiser.state.values() for t in s.values() if t.dim()]
    assert states and all(t.dtype == torch.float32 for t in states)
    # The gradient guard runs where no scaler skips overflowing steps by design.
    assert checked == ([True] if name == "bf16" else [])  # bf16: the first step


def test_fp16_skips_an_overflowing_update_and_lowers_the_scale():
    precision = Precision("fp16", CPU)
    weight = nn.Parameter(torch.ones(3))
    optimiser = torch.optim.SGD([weight], lr=0.1)
    precision.scaled(weight.sum())  # the iteration's scaled loss (sets the scale)
    scale = precision.scaler.get_scale()
    weight.grad = torch.tensor([1.0, float("inf"), 1.0])
    precision.step(optimiser, lambda: pytest.fail("no guard under fp16's scaler"))
    assert torch.equal(weight.detach(), torch.ones(3))  # skipped
    assert precision.scaler.get_scale() == scale / 2  # one update, after the skip
    saved = precision.state()
    again = Precision("fp16", CPU)
    again.load_state(saved)
    assert again.scaler.get_scale() == scale / 2  # a resumed run keeps its scale


def test_the_choice_is_checked():
    assert TrainSettings(precision="fp8").problems() == [
        "--precision must be one of fp32, bf16, fp16, not 'fp8'"
    ]


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("precision") / "planted.npz"
    save_bank(make_planted(size=240, seed=3), path)
    return path


def test_a_bf16_training_run_is_recorded_and_kept_on_resume(bank: Path, tmp_path: Path):
    from safetensors.torch import load_file

    (tmp_path / "pair.bmg").write_text(GENOTYPE)
    out = str(tmp_path / "run")
    args = ["train", str(tmp_path / "pair.bmg"), "--data", str(bank), "-o", out]
    result = run_bmnas_here(*args, "--epochs", "2", "--precision", "bf16")
    assert result.returncode == 0, result.stderr
    settings = json.loads((tmp_path / "run" / "settings.json").read_text())
    assert settings["settings"]["precision"] == "bf16"
    weights = load_file(tmp_path / "run" / "weights.safetensors")
    assert all(
        t.dtype == torch.float32 for t in weights.values() if t.is_floating_point()
    )
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0 <= metrics["test"]["accuracy"] <= 1
    # The precision is the run's (its results depend on it): not changed on resume.
    refused = run_bmnas_here("train", "-o", out, "--resume", "--precision", "fp32")
    assert refused.returncode == 1
    assert "--precision fp32 (the run has bf16)" in refused.stderr
