"""extract_bank: eval mode, the provenance in meta.json, resuming by chunk, the checks
made before anything is written, and the forms the samples may take (issue 14, 4)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil

import numpy as np
import pytest
import torch
from extract_models import INPUT, Maps, Noisy, seeded, toy_data
from torch import nn

from bmnas_dsl.data.bankdir import is_bank_dir, open_arrays
from bmnas_dsl.data.bankwriter import partial_path
from bmnas_dsl.errors import BankError
from bmnas_dsl.extract import Backbone, extract_bank
from bmnas_dsl.extract.errors import ExtractError
from bmnas_dsl.extract.resume import settings_path
from bmnas_dsl.extract.weights import state_sha256

LAYERS = ["gather", "video", "vector"]


def run(path, model, x, labels, split, **options):
    options.setdefault("progress", False)
    backbone = Backbone(
        model, options.pop("layers", LAYERS), options.pop("weights", None)
    )
    return extract_bank(path, {"m": backbone}, x, labels, split, **options)


def files(path) -> dict[str, object]:
    """Every file's bytes; meta.json's content less the files' modification times."""
    found: dict[str, object] = {p.name: p.read_bytes() for p in sorted(path.iterdir())}
    meta = json.loads(found["meta.json"])
    assert set(meta.pop("written")) == set(found) - {"meta.json"}
    found["meta.json"] = meta
    return found


class Failing:
    """Samples that fail at row `fail_at` (a disk error, a corrupt image, Ctrl-C)."""

    def __init__(self, x: np.ndarray, fail_at: int | None, error=OSError) -> None:
        self.x, self.fail_at, self.error, self.read = x, fail_at, error, []

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> np.ndarray:
        if index == self.fail_at:
            raise self.error(f"cannot read sample {index}")
        self.read.append(index)
        return self.x[index]


def test_backbones_run_in_eval_mode_and_get_their_mode_back(tmp_path):
    x, labels, split = toy_data(rows=16)
    model = seeded(Noisy()).train()  # dropout on, batch statistics: if left as given
    run(tmp_path / "a.bank", model, x, labels, split, layers=["norm", "block"])
    assert model.training and model.drop.training  # restored
    run(tmp_path / "b.bank", model, x, labels, split, layers=["norm", "block"])
    first, second = (
        open_arrays(tmp_path / "a.bank")[1],
        open_arrays(tmp_path / "b.bank")[1],
    )
    model.eval()
    with torch.no_grad():
        inputs = torch.from_numpy(x).unsqueeze(1)
        norm = model.norm(model.conv(inputs))
        block = model.block(model.drop(norm))
    assert np.array_equal(first["m.norm"], norm.numpy())
    assert np.array_equal(first["m.block"], block.numpy())
    for name in first:
        assert np.array_equal(first[name], second[name])


def test_meta_json_records_the_weights_hashes_and_the_layers(tmp_path):
    x, labels, split = toy_data()
    trained = seeded(Maps(), seed=7)
    weights = tmp_path / "maps.pt"
    torch.save(trained.state_dict(), weights)
    model = seeded(Maps(), seed=1)  # other weights until the file is loaded
    run(tmp_path / "w.bank", model, x, labels, split, weights=weights, pool=4)
    meta = json.loads((tmp_path / "w.bank" / "meta.json").read_text())
    record = meta["info"]["extraction"]["backbones"]["m"]
    assert record["weights_file"] == str(weights)
    assert (
        record["weights_file_sha256"]
        == hashlib.sha256(weights.read_bytes()).hexdigest()
    )
    assert record["state_sha256"] == state_sha256(trained)
    assert record["model"] == "extract_models.Maps"
    assert record["layers"] == {f"m.{layer}": layer for layer in LAYERS}
    assert record["capture"] == "fx"
    assert meta["info"]["extraction"]["pool"] == 4
    # Other weights give another state hash (and, without a file, no file hash).
    run(tmp_path / "r.bank", seeded(Maps(), seed=2), x, labels, split, pool=4)
    other = json.loads((tmp_path / "r.bank" / "meta.json").read_text())
    record = other["info"]["extraction"]["backbones"]["m"]
    assert record["weights_file"] is None and record["weights_file_sha256"] is None
    assert record["state_sha256"] != state_sha256(trained)


def test_a_weights_file_that_does_not_fit_is_refused_before_anything_is_written(
    tmp_path,
):
    x, labels, split = toy_data()
    weights = tmp_path / "other.pt"
    torch.save(nn.Linear(3, 2).state_dict(), weights)
    with pytest.raises(ExtractError) as error:
        run(tmp_path / "w.bank", Maps(), x, labels, split, weights=weights)
    assert "does not fit the model (Maps)" in str(error.value)
    assert "missing (equal.0.bias, equal.0.weight, fold.0.bias, ...)" in str(
        error.value
    )
    assert "2 unexpected (bias, weight)" in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.pt"]


def test_an_interrupted_extraction_resumes_to_the_same_bank(tmp_path):
    x, labels, split = toy_data(rows=50)
    model = seeded(Maps())
    run(tmp_path / "whole.bank", model, x, labels, split, pool=4, batch_size=8)
    target = tmp_path / "resumed.bank"
    broken = Failing(x, fail_at=29)
    with pytest.raises(OSError, match="cannot read sample 29"):
        run(target, model, broken, labels, split, pool=4, batch_size=8)
    # Killed mid-way: no bank, a partial one and the settings it was started with.
    assert not target.exists() and not is_bank_dir(target)
    assert partial_path(target).is_dir() and settings_path(target).is_file()
    healthy = Failing(x, fail_at=None)
    result = run(
        target, model, healthy, labels, split, pool=4, batch_size=8, resume=True
    )
    assert result.resumed_from == 24  # three chunks of 8 were written before row 29
    assert result.rows == 26
    assert min(healthy.read) == 0 and sorted(set(healthy.read) - {0}) == list(
        range(24, 50)
    )  # row 0 once, to learn the shapes; then only the rows not written yet
    assert files(target) == files(tmp_path / "whole.bank")  # every byte, and meta.json
    assert not settings_path(target).exists() and not partial_path(target).exists()


def test_ctrl_c_leaves_a_partial_bank_that_resumes(tmp_path):
    x, labels, split = toy_data(rows=20)
    model = seeded(Maps())
    with pytest.raises(KeyboardInterrupt):
        run(
            tmp_path / "k.bank",
            model,
            Failing(x, 13, KeyboardInterrupt),
            labels,
            split,
            batch_size=4,
        )
    assert not is_bank_dir(tmp_path / "k.bank")
    result = run(
        tmp_path / "k.bank", model, x, labels, split, batch_size=4, resume=True
    )
    assert result.resumed_from == 12
    run(tmp_path / "once.bank", model, x, labels, split, batch_size=4)
    assert files(tmp_path / "k.bank") == files(tmp_path / "once.bank")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"model": 5}, "extraction.backbones.m.state_sha256: "),
        ({"pool": 2}, "extraction.pool: 4 then, 2 now"),
        ({"layers": ["gather", "video"]}, "extraction.backbones.m.layers.m.vector"),
        ({"labels": "shifted"}, "first 8 rows have other labels"),
    ],
)
def test_a_resume_with_other_settings_or_data_is_refused(tmp_path, change, expected):
    x, labels, split = toy_data(rows=24)
    target = tmp_path / "p.bank"
    with pytest.raises(OSError):
        run(target, seeded(Maps()), Failing(x, 10), labels, split, pool=4, batch_size=8)
    options = {"pool": change.get("pool", 4), "batch_size": 8, "resume": True}
    options["layers"] = change.get("layers", LAYERS)
    model = seeded(Maps(), seed=change.get("model", 0))
    given = (labels + 1) % 3 if change.get("labels") else labels
    with pytest.raises((ExtractError, BankError)) as error:
        run(target, model, x, given, split, **options)
    assert expected in str(error.value)
    assert partial_path(target).is_dir()  # left as it was, for a resume that fits


def test_settings_left_without_a_partial_bank_do_not_stop_a_resume(tmp_path):
    x, labels, split = toy_data(rows=24)
    target = tmp_path / "p.bank"
    with pytest.raises(OSError):
        run(target, seeded(Maps()), Failing(x, 10), labels, split, batch_size=8)
    shutil.rmtree(partial_path(target))  # the partial bank removed by hand
    result = run(target, seeded(Maps(), seed=4), x, labels, split, pool=2, resume=True)
    assert result.resumed_from == 0 and is_bank_dir(target)
    assert not settings_path(target).exists()


def test_a_partial_bank_without_its_settings_is_not_resumed(tmp_path):
    x, labels, split = toy_data(rows=24)
    target = tmp_path / "p.bank"
    with pytest.raises(OSError):
        run(target, seeded(Maps()), Failing(x, 10), labels, split, batch_size=8)
    settings_path(target).unlink()
    with pytest.raises(ExtractError, match="cannot tell what wrote the partial bank"):
        run(target, seeded(Maps()), x, labels, split, batch_size=8, resume=True)


@pytest.mark.parametrize(
    ("labels", "split", "options", "expected"),
    [
        (np.arange(40) % 5, None, {"classes": 3}, "labels out of range: 0..4 for 3"),
        (np.arange(39) % 3, None, {}, "has 40 samples, labels have 39"),
        (None, np.zeros(40, np.int8), {}, "the val split is empty"),
        (None, None, {"task": "regression"}, "task 'regression' is not one of"),
        (None, None, {"layers": {"bad-name": "video"}}, "feature name 'bad-name'"),
        (
            None,
            None,
            {"layers": {"class": "video"}},
            "layers={feature: layer}) names the",
        ),
        (None, None, {"info": {"n": np.int64(3)}}, "info must hold JSON values"),
        (None, None, {"info": {"extraction": 1}}, "info key 'extraction'"),
        (None, None, {"dtype": "bfloat16"}, "dtype 'bfloat16'; use float32 or float16"),
        (None, None, {"batch_size": 0}, "batch_size must be an integer >= 1"),
    ],
)
def test_bad_input_is_refused_before_anything_is_written(
    tmp_path, labels, split, options, expected
):
    x, good_labels, good_split = toy_data(rows=40)
    labels = good_labels if labels is None else labels
    split = good_split if split is None else split
    with pytest.raises((ExtractError, BankError)) as error:
        run(tmp_path / "bad.bank", Maps(), x, labels, split, **options)
    assert expected in str(error.value)
    assert "\n" not in str(error.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "dtype", "expected"),
    [
        (float("nan"), "float32", "gave NaN or Inf for rows 16..23"),
        (1e6, "float16", "beyond float16's range (|x| > 65504) for rows 16..23"),
    ],
)
def test_bad_values_are_refused_at_the_chunk_that_has_them(
    tmp_path, value, dtype, expected
):
    x, labels, split = toy_data(rows=32)
    x = x.copy()
    x[20] = value  # a sample whose features are NaN, or beyond float16's range
    model = seeded(nn.Sequential(nn.Linear(INPUT, 6), nn.Unflatten(1, (2, 3))))
    if value > 0:
        with torch.no_grad():
            model[0].weight.fill_(1.0)
    with pytest.raises(ExtractError, match=re.escape(expected)) as error:
        run(
            tmp_path / "n.bank",
            model,
            x,
            labels,
            split,
            layers={"proj": "0"},
            dtype=dtype,
            batch_size=8,
        )
    assert "backbone 'm': layer '0'" in str(error.value)
    assert not is_bank_dir(tmp_path / "n.bank")


def test_every_form_of_samples_gives_the_same_bank(tmp_path):
    x, labels, split = toy_data(rows=18)
    model = seeded(Maps())

    class Dicts:
        def __len__(self):
            return len(x)

        def __getitem__(self, i):
            return {"m": torch.from_numpy(x[i])}

    forms = {
        "array": x,
        "tensor": torch.from_numpy(x).double(),  # floats become the model's dtype
        "dict": {"m": x},
        "dataset": Dicts(),
        "items": Failing(x, None),
    }
    for name, samples in forms.items():
        run(tmp_path / f"{name}.bank", model, samples, labels, split, batch_size=5)
    expected = files(tmp_path / "array.bank")
    for name in forms:
        assert files(tmp_path / f"{name}.bank") == expected, name


def test_two_backbones_fill_two_modalities_of_one_bank(tmp_path):
    x, labels, split = toy_data(rows=12)
    other = np.random.default_rng(1).standard_normal((12, 5)).astype(np.float32)
    backbones = {
        "a": Backbone(seeded(Maps()), {"v": "video"}),
        "b": Backbone(
            seeded(nn.Sequential(nn.Linear(5, 8), nn.ReLU())),
            {"lin": "0", "act": "1"},
            input="other",
        ),
    }
    extract_bank(
        tmp_path / "two.bank",
        backbones,
        {"a": x, "other": other},
        labels,
        split,
        pool=2,
        progress=False,
    )
    meta, features, _, _ = open_arrays(tmp_path / "two.bank")
    assert [m["name"] for m in meta["modalities"]] == ["a", "b"]
    assert {n: a.shape for n, a in features.items()} == {
        "a.v": (12, 16, 2),
        "b.lin": (12, 8),
        "b.act": (12, 8),
    }
    missing = {"a": Backbone(seeded(Maps()), ["video"], input="pictures")}
    with pytest.raises(
        ExtractError, match="reads input 'pictures', but the samples give a"
    ):
        extract_bank(
            tmp_path / "m.bank", missing, {"a": x}, labels, split, progress=False
        )


def test_progress_is_a_bar_on_a_terminal_and_ten_lines_in_a_log(tmp_path):
    x, labels, split = toy_data(rows=100)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    log, terminal = io.StringIO(), Terminal()
    run(tmp_path / "a.bank", Maps(), x, labels, split, batch_size=5, progress=log)
    run(tmp_path / "b.bank", Maps(), x, labels, split, batch_size=5, progress=terminal)
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1] == "extract 100/100 rows"
    assert all(line.startswith("extract ") for line in lines)
    assert "\r\x1b[Kextract [" in terminal.getvalue()
    assert terminal.getvalue().endswith("100/100 rows\n")
