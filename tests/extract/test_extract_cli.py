"""`bmnas extract`: a torchvision backbone over an .npz of images into a bank directory;
one-line errors that create nothing; Ctrl-C, then --resume (issue 14, item 4)."""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO

from bmnas_dsl.cli import extract as extract_cli
from bmnas_dsl.cli.main import main
from bmnas_dsl.data.bankdir import FEATURE_DTYPES, open_arrays
from bmnas_dsl.extract import Backbone, extract_bank
from bmnas_dsl.extract.capture import METHODS
from bmnas_dsl.extract.errors import ExtractError
from bmnas_dsl.extract.images import ImageSamples
from bmnas_dsl.extract.vision import import_torchvision

ROWS = 12


@pytest.fixture
def npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "images.npz"
    np.savez(
        path,
        images=rng.integers(0, 256, (ROWS, 3, 32, 32), dtype=np.uint8),
        labels=np.arange(ROWS) % 3,
        split=np.array(["train", "train", "val", "test"] * (ROWS // 4)),
    )
    return path


def resnet(seed: int = 0):
    torch.manual_seed(seed)
    return import_torchvision().models.resnet18(weights=None)


def command(npz, out, *extra: str) -> list[str]:
    return [
        "extract",
        "--model",
        "torchvision:resnet18",
        "--images",
        str(npz),
        "-o",
        str(out),
        "--threads",
        "1",
        "--device",
        "cpu",
        *extra,
    ]


def test_the_cli_extracts_a_torchvision_backbone_with_its_weights_file(
    tmp_path, npz, capsys
):
    weights = tmp_path / "resnet18.pth"
    torch.save(resnet(seed=3).state_dict(), weights)
    out = tmp_path / "img.bank"
    argv = command(npz, out, "--weights", str(weights), "--layers", "layer3,l4=layer4")
    argv += ["--pool", "2", "--batch-size", "5", "--mean", "0.5", "--std", "0.25"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(
        f"wrote {out}: 12 rows (image.layer3 [256, 2], image.l4 [512, 2]; float32), "
        "capture fx, "
    )
    meta, features, labels, split = open_arrays(out)
    record = meta["info"]["extraction"]["backbones"]["image"]
    assert record["model"] == "torchvision:resnet18"
    assert record["weights_file"] == str(weights)
    assert (
        record["weights_file_sha256"]
        == hashlib.sha256(weights.read_bytes()).hexdigest()
    )
    assert record["layers"] == {"image.layer3": "layer3", "image.l4": "layer4"}
    assert meta["classes"] == 3 and list(split[:4]) == [0, 0, 1, 2]
    # The same extraction through the API, on images scaled and normalised by hand.
    model = resnet(seed=3)
    pixels = np.load(npz)["images"].astype(np.float32) / 255
    expected = tmp_path / "api.bank"
    extract_bank(
        expected,
        {"image": Backbone(model, {"layer3": "layer3", "l4": "layer4"})},
        (pixels - 0.5) / 0.25,
        labels,
        split,
        pool=2,
        progress=False,
    )
    for name, array in open_arrays(expected)[1].items():
        np.testing.assert_allclose(features[name], array, rtol=1e-5, atol=1e-5)


def test_weights_none_is_the_random_initialisation_of_the_seed(tmp_path, npz):
    hashes = []
    for name, seed in (("a", "0"), ("b", "0"), ("c", "1")):
        out = tmp_path / f"{name}.bank"
        argv = command(
            npz, out, "--weights", "none", "--layers", "layer1", "--pool", "1"
        )
        assert main([*argv, "--seed", seed]) == 0
        record = json.loads((out / "meta.json").read_text())["info"]["extraction"]
        hashes.append(record["backbones"]["image"]["state_sha256"])
        assert record["backbones"]["image"]["weights_file"] is None
    assert hashes[0] == hashes[1] != hashes[2]


def test_without_torchvision_the_error_says_how_to_install_it(
    tmp_path, npz, capsys, monkeypatch
):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # `import torchvision` fails
    out = tmp_path / "x.bank"
    assert main(command(npz, out, "--weights", "none", "--layers", "layer1")) == 1
    err = capsys.readouterr().err
    assert err == (
        "bmnas extract: error: torchvision is not installed; install the torchvision "
        "built for your torch (pip install 'bmnas[extract]' for torch 2.13)\n"
    )
    assert not out.exists()


def test_torchvision_imports_and_runs_its_classification_models():
    # In a fresh process: torchvision's PyPI wheels are built for CUDA torch, and with
    # the CPU torch their import fails on two unguarded op registrations
    # (pytorch/vision#9337); import_torchvision declares those two and imports.
    code = (
        "import torch\n"
        "try:\n"
        "    import torchvision\n"
        "    plain = 'ok'\n"
        "except RuntimeError as exc:\n"
        "    plain = str(exc)\n"
        "from bmnas_dsl.extract.vision import import_torchvision\n"
        "tv = import_torchvision()\n"
        "out = tv.models.resnet18(weights=None).eval()(torch.zeros(1, 3, 32, 32))\n"
        "try:\n"
        "    tv.ops.nms(torch.zeros(1, 4), torch.ones(1), 0.5)\n"
        "    ops = 'ok'\n"
        "except RuntimeError as exc:\n"
        "    ops = str(exc).splitlines()[0]\n"
        "print(plain, list(out.shape), ops, sep='|')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    plain, shape, ops = result.stdout.strip().split("|")
    assert shape == "[1, 1000]"
    if plain == "ok":  # a torchvision built for this torch: its C++ ops work too
        assert ops == "ok"
    else:
        assert plain == "operator torchvision::nms does not exist"
        assert ops.startswith("Couldn't load custom C++ ops")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--model", "resnet18"], "--model resnet18: give torchvision:NAME"),
        (["--layers", "a=,b"], "--layers 'a=': give LAYER or FEATURE=LAYER"),
        (["--mean", "0.5,x"], "--mean 0.5,x: give numbers separated by commas"),
        (["--layers", " , "], "--layers names no layer"),
    ],
)
def test_usage_errors_exit_2_with_the_usage(tmp_path, npz, capsys, extra, expected):
    out = tmp_path / "x.bank"
    argv = [*command(npz, out, "--weights", "none", "--layers", "layer1"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: bmnas extract")
    assert f"bmnas extract: error: {expected}" in err
    assert not out.exists()


def test_input_errors_are_one_line_and_create_nothing(tmp_path, npz, capsys):
    junk = tmp_path / "junk.pth"
    junk.write_text("not weights")
    np.savez(tmp_path / "nosplit.npz", images=np.zeros((4, 8, 8)), labels=np.zeros(4))
    cases = [
        (["--images", str(tmp_path / "none.npz")], "none.npz: no such file"),
        (
            ["--images", str(tmp_path / "nosplit.npz")],
            "nosplit.npz: no split array (it has images, labels; expected images, "
            "labels, split)",
        ),
        (
            ["--model", "torchvision:resnet81"],
            "torchvision has no model 'resnet81'; did you mean 'resnet18'?",
        ),
        (["--layers", "layer5"], "the model has no layer 'layer5'; did you mean"),
        (["--weights", str(junk)], "junk.pth: cannot read weights ("),
        (["--pool", "0"], "pool must be a positive integer (L), not 0"),
    ]
    for extra, expected in cases:
        out = tmp_path / "x.bank"
        argv = [*command(npz, out, "--weights", "none", "--layers", "layer1"), *extra]
        assert main(argv) == 1, extra
        err = capsys.readouterr().err
        assert err.startswith("bmnas extract: error: ") and err.count("\n") == 1, err
        assert expected in err, (extra, err)
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "images.npz",
            "junk.pth",
            "nosplit.npz",
        ]


def test_ctrl_c_says_how_to_resume_and_resume_finishes_the_bank(
    tmp_path, npz, capsys, monkeypatch
):
    out, whole = tmp_path / "r.bank", tmp_path / "whole.bank"
    options = ["--weights", "none", "--layers", "layer2", "--pool", "3"]
    options += ["--batch-size", "5", "--dtype", "float16"]
    read = ImageSamples.__getitem__

    def interrupted(self, index):
        if index == 7:
            raise KeyboardInterrupt
        return read(self, index)

    monkeypatch.setattr(ImageSamples, "__getitem__", interrupted)
    assert main(command(npz, out, *options)) == 130
    err = capsys.readouterr().err
    assert "bmnas extract: interrupted; continue with: bmnas extract " in err
    hint = shlex.split(err.split("continue with: ")[1])
    assert hint[-1] == "--resume" and "--dtype" in hint and "--pool" in hint
    assert not (out / "meta.json").exists()
    monkeypatch.setattr(ImageSamples, "__getitem__", read)
    assert main(hint[1:]) == 0
    assert "resumed at row 5" in capsys.readouterr().out
    assert main(command(npz, whole, *options)) == 0
    resumed, once = open_arrays(out), open_arrays(whole)
    assert resumed[1].keys() == once[1].keys() == {"image.layer2"}
    assert np.array_equal(resumed[1]["image.layer2"], once[1]["image.layer2"])
    assert resumed[0]["info"] == once[0]["info"]


def test_the_cli_spells_the_choices_of_the_package():
    # Spelt in the command module so that building the parser loads no torch.
    assert extract_cli.CAPTURES == METHODS
    assert extract_cli.DTYPES == FEATURE_DTYPES
    assert extract_cli._device("auto", cuda=False) == "cpu"
    assert extract_cli._device("auto", cuda=True) == "cuda"
    assert extract_cli._device("cpu", cuda=True) == "cpu"
    with pytest.raises(ExtractError, match="--device cuda: torch sees no CUDA device"):
        extract_cli._device("cuda", cuda=False)
