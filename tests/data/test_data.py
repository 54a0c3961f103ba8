"""Feature banks (format, validation, errors), mfeat preparation, and `planted`."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch
from conftest import PickleExploit, run_bmnas
from torch import nn

from bmnas_dsl.data import mfeat as mfeat_module
from bmnas_dsl.data.bank import (
    BankError,
    FeatureBank,
    genotype_problems,
    load_bank,
    save_bank,
)
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.data.resolve import resolve_data


def small_bank(n: int = 12) -> FeatureBank:
    rng = np.random.default_rng(0)
    return FeatureBank(
        features={
            "v.f1": rng.standard_normal((n, 4, 3)).astype(np.float32),
            "v.f2": rng.standard_normal((n, 5)).astype(np.float32),
            "w.g": rng.standard_normal((n, 2, 2, 2)).astype(np.float32),
        },
        labels=np.arange(n) % 3,
        split=np.array([0, 1, 2] * (n // 3), dtype=np.int8),
        task="multiclass",
        classes=3,
        info={"note": "test"},
    )


def test_bank_round_trip(tmp_path):
    bank = small_bank()
    save_bank(bank, tmp_path / "bank.npz")
    loaded = load_bank(tmp_path / "bank.npz")
    assert list(loaded.features) == ["v.f1", "v.f2", "w.g"]
    for name, array in bank.features.items():
        np.testing.assert_array_equal(loaded.features[name], array)
    np.testing.assert_array_equal(loaded.labels, bank.labels)
    assert loaded.modalities == {"v": ["f1", "f2"], "w": ["g"]}
    assert loaded.split_sizes() == {"train": 4, "val": 4, "test": 4}
    assert loaded.info == {"note": "test"}


def test_multilabel_bank_round_trip(tmp_path):
    bank = replace(
        small_bank(), task="multilabel", labels=np.eye(12, 3, dtype=np.int64)
    )
    save_bank(bank, tmp_path / "bank.npz")
    assert load_bank(tmp_path / "bank.npz").labels.shape == (12, 3)


BAD = {
    "mismatched N": (
        lambda b: replace(b, features={**b.features, "v.f2": b.features["v.f2"][:5]}),
        "feature 'v.f2' has 5 samples, labels have 12",
    ),
    "NaN": (
        lambda b: replace(
            b,
            features={
                **b.features,
                "w.g": np.where(np.eye(2)[0] > 0, np.nan, b.features["w.g"]),
            },
        ),
        "feature 'w.g' contains",
    ),
    "Inf": (
        lambda b: replace(
            b, features={**b.features, "v.f1": np.full_like(b.features["v.f1"], np.inf)}
        ),
        "NaN or Inf",
    ),
    "labels out of range": (
        lambda b: replace(b, labels=np.arange(12) % 4),
        "labels out of range: 0..3 for 3 classes",
    ),
    "empty split": (
        lambda b: replace(b, split=np.where(b.split == 1, 0, b.split).astype(np.int8)),
        "the val split is empty",
    ),
    "bad split value": (
        lambda b: replace(b, split=np.full(12, 3, dtype=np.int8)),
        "split values must be 0 (train), 1 (val) or 2 (test)",
    ),
    "multilabel values": (
        lambda b: replace(b, task="multilabel", labels=np.full((12, 3), 2)),
        "multilabel labels must be 0 or 1",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_banks_are_refused_on_save_and_on_load(case, tmp_path):
    spoil, message = BAD[case]
    bad = spoil(small_bank())
    with pytest.raises(
        BankError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        save_bank(bad, tmp_path / "x.npz")
    # Written by hand, as another tool might: loading refuses it with the same message.
    meta = {
        "format": "bmnas-feature-bank",
        "version": 1,
        "task": bad.task,
        "classes": 3,
        "modalities": [
            {"name": m, "features": [{"name": f} for f in fs]}
            for m, fs in bad.modalities.items()
        ],
    }
    np.savez(
        tmp_path / "bad.npz",
        meta=np.array(json.dumps(meta)),
        labels=bad.labels,
        split=bad.split,
        **bad.features,
    )
    with pytest.raises(
        BankError, match=message.replace("(", r"\(").replace(")", r"\)")
    ):
        load_bank(tmp_path / "bad.npz")


def test_other_bank_versions_and_foreign_files_are_refused(tmp_path):
    save_bank(small_bank(), tmp_path / "bank.npz")
    with np.load(tmp_path / "bank.npz") as archive:
        arrays = dict(archive)
    meta = json.loads(str(arrays["meta"]))
    np.savez(
        tmp_path / "v2.npz",
        **{**arrays, "meta": np.array(json.dumps({**meta, "version": 2}))},
    )
    with pytest.raises(BankError, match="feature bank version 2; this bmnas reads 1"):
        load_bank(tmp_path / "v2.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(BankError, match="not a feature bank"):
        load_bank(tmp_path / "text.npz")
    np.savez(tmp_path / "nometa.npz", labels=np.zeros(3))
    with pytest.raises(BankError, match="no 'meta' entry"):
        load_bank(tmp_path / "nometa.npz")


def test_pickled_arrays_are_never_loaded(tmp_path):
    marker = tmp_path / "pwned"
    save_bank(small_bank(), tmp_path / "bank.npz")
    with np.load(tmp_path / "bank.npz") as archive:
        arrays = dict(archive)
    evil = np.empty(1, dtype=object)
    evil[0] = PickleExploit(str(marker))
    np.savez(tmp_path / "evil.npz", **{**arrays, "v.f2": evil})
    assert pickle.dumps(evil)  # the file really holds a pickle
    with pytest.raises(BankError, match="not a feature bank"):
        load_bank(tmp_path / "evil.npz")
    assert not marker.exists()


def test_genotype_shapes_are_checked_naming_the_feature():
    bank = small_bank()
    assert genotype_problems(bank, [("v.f1", [4, 3]), ("w.g", [2, 2, 2])]) == []
    assert genotype_problems(bank, [("v.f1", [4, 5]), ("v.f9", [1])]) == [
        "feature 'v.f1' is [4, 3] in the bank but [4, 5] in the genotype",
        "feature 'v.f9' of the genotype is not in the bank",
    ]


def test_data_command_checks_a_genotype_against_a_bank(tmp_path):
    save_bank(small_bank(), tmp_path / "bank.npz")
    genotype = tmp_path / "g.bmg"
    genotype.write_text(
        "bmg 1\nmodel m {\n    dims C = 4, L = 2\n    classes 3\n\n"
        "    modality v {\n        f1 : [4, 3]\n        f2 : [6]\n    }\n\n"
        "    cell c (x = v.f1, y = v.f2) {\n        s = Sum(x, y)\n        out = s\n    }\n\n"
        "    output c\n}\n"
    )
    result = run_bmnas("data", str(tmp_path / "bank.npz"), "--genotype", str(genotype))
    assert result.returncode == 1
    assert "feature 'v.f2' is [5] in the bank but [6] in the genotype" in result.stderr
    genotype.write_text(genotype.read_text().replace("[6]", "[5]"))
    ok = run_bmnas("data", str(tmp_path / "bank.npz"), "--genotype", str(genotype))
    assert ok.returncode == 0, ok.stderr


def test_unknown_data_names_are_a_clear_error():
    result = run_bmnas("data", "imagenet")
    assert result.returncode == 1
    assert "unknown data 'imagenet'" in result.stderr and "mfeat" in result.stderr
    assert "Traceback" not in result.stderr
    with pytest.raises(BankError, match="no view xyz"):
        resolve_data("mfeat:xyz")


@pytest.fixture(scope="module")
def mfeat_cache(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BMNAS_DATA_DIR", str(folder))
        bank = resolve_data("mfeat:" + ",".join(mfeat_module.VIEWS))
    return folder, bank


def test_mfeat_bank_has_every_view_with_three_positional_depths(mfeat_cache):
    _, bank = mfeat_cache
    assert bank.size == 2000 and bank.classes == 10
    assert bank.split_sizes() == {"train": 1200, "val": 400, "test": 400}
    for view in mfeat_module.VIEWS:
        shapes = [bank.shape(f"{view}.conv{i}") for i in (1, 2, 3)]
        assert [s[0] for s in shapes] == [16, 32, 64]
        assert shapes[0][1] > shapes[1][1] > 1  # a position axis to attend over
        assert bank.shape(f"{view}.pooled") == (64,)
    for label in range(10):  # stratified: 120/40/40 of every digit
        assert [
            int(np.sum((bank.labels == label) & (bank.split == s))) for s in (0, 1, 2)
        ] == [
            120,
            40,
            40,
        ]


def test_every_mfeat_backbone_beats_chance_clearly(mfeat_cache):
    _, bank = mfeat_cache
    for view, report in bank.info["backbones"].items():
        assert report["test_accuracy"] > 0.5, (view, report)  # chance is 0.1


def test_mfeat_is_cached_and_default_views_are_fou_and_zer(mfeat_cache, monkeypatch):
    folder, _ = mfeat_cache
    monkeypatch.setenv("BMNAS_DATA_DIR", str(folder))

    def no_training(*args, **kwargs):
        raise AssertionError("prepared again instead of using the cache")

    monkeypatch.setattr(mfeat_module, "prepare_view", no_training)
    bank = resolve_data("mfeat")
    assert list(bank.modalities) == ["fou", "zer"]


def test_mfeat_preparation_is_deterministic_and_standardised_on_train_only():
    first = mfeat_module.prepare_view("mor", seed=3, epochs=4)
    second = mfeat_module.prepare_view("mor", seed=3, epochs=4)
    np.testing.assert_array_equal(first.split, second.split)
    for name in first.features:
        np.testing.assert_array_equal(first.features[name], second.features[name])
    views, labels = mfeat_module.read_views()
    split = mfeat_module.stratified_split(labels, 3)
    values = mfeat_module.standardise(views["fac"], split == 0)
    np.testing.assert_allclose(values[split == 0].mean(axis=0), 0, atol=1e-9)
    assert not np.allclose(values[split == 2].mean(axis=0), 0, atol=1e-3)
    assert not np.array_equal(split, mfeat_module.stratified_split(labels, 4))


def _fit_mlp(bank: FeatureBank, names: list[str]) -> float:
    torch.manual_seed(0)
    x = torch.tensor(
        np.concatenate([bank.features[n].reshape(bank.size, -1) for n in names], 1)
    )
    y = torch.tensor(bank.labels)
    train, test = bank.indices("train"), bank.indices("test")
    model = nn.Sequential(
        nn.Linear(x.shape[1], 64), nn.ReLU(), nn.Linear(64, bank.classes)
    )
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(80):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x[train]), y[train]).backward()
        optimiser.step()
    with torch.no_grad():
        return float((model(x[test]).argmax(1) == y[test]).float().mean())


def test_planted_label_needs_both_planted_features():
    bank = make_planted()
    chance = 1 / bank.classes
    assert abs(_fit_mlp(bank, ["a.f3"]) - chance) < 0.07
    assert abs(_fit_mlp(bank, ["b.f2"]) - chance) < 0.07
    assert _fit_mlp(bank, ["a.f3", "b.f2"]) > 0.95
    assert abs(_fit_mlp(bank, ["a.f1", "a.f4", "b.f1", "b.f4"]) - chance) < 0.07


def test_planted_is_deterministic():
    first, second = make_planted(), make_planted()
    for name in first.features:
        np.testing.assert_array_equal(first.features[name], second.features[name])
    assert not np.array_equal(make_planted(seed=1).labels, first.labels)


def test_data_command_describes_a_bank_with_free_form_info(tmp_path):
    bank = replace(
        small_bank(), info={"backbones": "r3d-18 + vggish", "dataset": "clips"}
    )
    save_bank(bank, tmp_path / "bank.npz")
    result = run_bmnas("data", str(tmp_path / "bank.npz"))
    assert result.returncode == 0, result.stderr
    assert "multiclass, 3 classes, 12 samples (train 4, val 4, test 4)" in result.stdout
    assert "w.g" in result.stdout
