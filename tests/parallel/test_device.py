"""`--device`: what each choice resolves to, the one-line errors, the machine's setting
that a resumed run may change; and, on a machine with a GPU, a run on it (skipped with
its reason elsewhere: the GPU paths also run in benchmarks/gpu_check.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import run_bmnas_here
from planted_genotypes import planted_pair

from bmnas_dsl.data.bank import save_bank
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.errors import DeviceError
from bmnas_dsl.nn import batches
from bmnas_dsl.nn import device as devices
from bmnas_dsl.nn.device import CPU, resolve_device, to_device
from bmnas_dsl.runs.checks import device as check_device
from bmnas_dsl.search.settings import Training
from bmnas_dsl.train.settings import TrainSettings

GENOTYPE = planted_pair("ConcatFC", "pair", C=8, L=4)


@pytest.mark.parametrize("choice", ["auto", "cpu", "cuda", "cuda:0", "cuda:12"])
def test_accepted_choices(choice):
    assert check_device(choice) is None


@pytest.mark.parametrize("choice", ["gpu", "cuda:", "cuda:-1", "CPU", "", 0, None])
def test_refused_choices_name_the_flag(choice):
    assert check_device(choice).startswith("--device must be auto, cpu, cuda or")
    assert Training(device=choice).problems() == [check_device(choice)]
    assert TrainSettings(device=choice).problems() == [check_device(choice)]


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_cpu_and_auto_without_a_gpu(no_cuda):
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto", local_rank=3, distributed=True) == CPU


@pytest.mark.parametrize("choice", ["cuda", "cuda:0"])
def test_asking_for_cuda_without_it_is_one_clear_error(no_cuda, choice):
    with pytest.raises(DeviceError, match=f"--device {choice}: "):
        resolve_device(choice)


def test_auto_skips_a_gpu_that_does_not_run(monkeypatch):
    """A GPU torch lists but cannot use is not chosen by `auto`, and is an error when
    asked for by name."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(devices, "_runs_a_kernel", lambda device: False)
    assert resolve_device("auto", local_rank=1) == CPU
    with pytest.raises(DeviceError, match="local rank 2 has no GPU of its own"):
        resolve_device("auto", local_rank=2, distributed=True)
    with pytest.raises(DeviceError, match="cuda:1 does not run a kernel"):
        resolve_device("cuda", local_rank=1)
    with pytest.raises(DeviceError, match="torch sees 2 CUDA device"):
        resolve_device("cuda:5")
    with pytest.raises(DeviceError, match="names one GPU, but this is one of several"):
        resolve_device("cuda:0", local_rank=0, distributed=True)


def test_on_the_cpu_batches_are_not_copied():
    tensors = [torch.ones(3), torch.zeros(2)]
    moved = to_device(tensors, CPU)
    assert all(a is b for a, b in zip(moved, tensors, strict=True))


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("device") / "planted.npz"
    save_bank(make_planted(size=240, seed=2), path)
    return path


def train(bank: Path, folder: Path, *flags: str):
    """`bmnas train` of GENOTYPE on `bank` into folder/run, in this process."""
    (folder / "pair.bmg").write_text(GENOTYPE)
    out = str(folder / "run")
    return run_bmnas_here(
        "train", str(folder / "pair.bmg"), "--data", str(bank), "-o", out, *flags
    )


def test_the_cli_refuses_a_missing_gpu_and_creates_nothing(
    bank: Path, tmp_path: Path, no_cuda
):
    result = train(bank, tmp_path, "--device", "cuda")
    out = tmp_path / "run"
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "bmnas train: error: --device cuda: " + devices._no_cuda_reason()
    ]
    assert not out.exists()
    search = run_bmnas_here(
        "search",
        "--data",
        str(bank),
        "-o",
        str(tmp_path / "a.bmg"),
        "--device",
        "cuda:0",
    )
    assert search.returncode == 1 and "--device cuda:0: " in search.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pair.bmg"]


def test_a_resumed_run_may_change_the_device(bank: Path, tmp_path: Path):
    first = train(bank, tmp_path, "--epochs", "2")
    out = str(tmp_path / "run")
    assert first.returncode == 0, first.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    again = run_bmnas_here("train", "-o", out, "--resume", "--device", "cpu")
    assert again.returncode == 0, again.stderr
    assert (
        json.loads((tmp_path / "run" / "metrics.json").read_text())["test"]
        == (metrics["test"])
    )
    settings = json.loads((tmp_path / "run" / "settings.json").read_text())
    assert settings["settings"]["device"] == "auto"  # what the run started with


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device on this machine: the GPU run is checked by "
    "benchmarks/gpu_check.py on a GPU machine",
)
def test_training_on_the_gpu_writes_weights_the_cpu_loads(bank: Path, tmp_path: Path):
    from safetensors.torch import load_file

    result = train(bank, tmp_path, "--epochs", "2", "--device", "cuda")
    out = tmp_path / "run"
    assert result.returncode == 0, result.stderr
    weights = load_file(out / "weights.safetensors")
    assert all(t.device.type == "cpu" for t in weights.values())
    assert json.loads((out / "metrics.json").read_text())["test"]["accuracy"] >= 0


def test_features_are_held_on_the_gpu_only_when_they_fit():
    assert batches.fits(100, free=400, share=0.25)
    assert not batches.fits(101, free=400, share=0.25)
    assert not batches.fits(0, free=400, share=0.25)  # nothing to hold
    column = batches.Column(np.arange(12, dtype=np.float32).reshape(4, 3))
    assert batches.hold_on_device([column], CPU) == 0  # the CPU: nothing moves
    assert column.tensor.device == CPU


def test_batches_already_on_the_device_are_not_copied_again():
    # A feature held on the GPU gives its batches there; to_device must leave them (a
    # CUDA tensor cannot be pinned). The meta device stands in for the GPU here.
    held = torch.empty(3, 2, device="meta")
    [same] = to_device([held], torch.device("meta"))
    assert same is held


@pytest.mark.skipif(
    not torch.cuda.is_available(),
    reason="no CUDA device on this machine: holding features on the GPU is timed "
    "against batch copies by benchmarks/gpu_check.py on a GPU machine",
)
def test_features_held_on_the_gpu_give_the_same_batches():  # pragma: no cover
    device = resolve_device("cuda")
    array = np.random.default_rng(0).standard_normal((50, 4, 3), dtype=np.float32)
    column = batches.Column(array)
    index = torch.tensor([7, 3, 41, 3])
    on_cpu = column.rows(index)
    assert batches.hold_on_device([column], device, share=1.0) == array.nbytes
    on_gpu = column.rows(index)
    assert on_gpu.device == device and torch.equal(on_gpu.cpu(), on_cpu)
    assert batches.hold_on_device([batches.Column(array)], device, share=0.0) == 0
