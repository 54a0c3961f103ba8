"""The bank content hash (bmnas_dsl.data.fingerprint) and the shipped mfeat backbones:
the same data gives the same hash, on any machine of a kind and after a round trip."""

from __future__ import annotations

import numpy as np
import pytest

from bmnas_dsl.data import mfeat
from bmnas_dsl.data.bank import FeatureBank, load_bank, save_bank
from bmnas_dsl.data.fingerprint import content_hash


def small_bank() -> FeatureBank:
    features = {
        "a.f": np.arange(24, dtype=np.float32).reshape(6, 2, 2),
        "b.g": np.linspace(-1, 1, 18, dtype=np.float32).reshape(6, 3),
    }
    return FeatureBank(
        features=features,
        labels=np.array([0, 1, 2, 0, 1, 2], dtype=np.int64),
        split=np.array([0, 0, 1, 1, 2, 2], dtype=np.int8),
        task="multiclass",
        classes=3,
        info={"prepared_seconds": 1.5},
    )


def test_the_hash_of_fixed_bytes_is_fixed():
    # A literal: the hash is a function of the bytes alone (no time, no machine).
    assert content_hash(small_bank()) == (
        "7e187a2612c08077dd840cec1bf5ae1109b13dbf444fe0b0e4ff3c76ab01428a"
    )


def test_info_is_not_content_and_a_round_trip_keeps_the_hash(tmp_path):
    bank = small_bank()
    other = small_bank()
    other.info = {"prepared_seconds": 99.0, "note": "elsewhere"}
    assert content_hash(other) == content_hash(bank)
    save_bank(bank, tmp_path / "b.npz")
    assert content_hash(load_bank(tmp_path / "b.npz")) == content_hash(bank)


@pytest.mark.parametrize(
    "change",
    [
        lambda b: b.features["a.f"].__setitem__((0, 0, 0), 0.5),
        lambda b: b.labels.__setitem__(0, 2),
        lambda b: b.split.__setitem__(0, 1),
        lambda b: setattr(b, "classes", 4),
        lambda b: b.features.update({"a.f": b.features["a.f"].reshape(6, 4)}),
    ],
    ids=["value", "label", "split", "classes", "shape"],
)
def test_any_change_of_content_changes_the_hash(change):
    bank = small_bank()
    before = content_hash(bank)
    change(bank)
    assert content_hash(bank) != before


def test_chunking_does_not_change_the_hash(monkeypatch):
    from bmnas_dsl.data import fingerprint

    whole = content_hash(small_bank())
    monkeypatch.setattr(fingerprint, "CHUNK_BYTES", 8)  # many tiny chunks
    assert content_hash(small_bank()) == whole


def test_mfeat_views_come_from_the_shipped_backbones(tmp_path, monkeypatch):
    # Preparing a view never trains (training at first use made other weights on
    # other machines); two preparations give the same bytes.
    monkeypatch.setenv("BMNAS_DATA_DIR", str(tmp_path / "cache"))

    def no_training(*args, **kwargs):
        raise AssertionError(
            "mfeat trained a backbone instead of using the shipped one"
        )

    monkeypatch.setattr(mfeat, "train_backbone", no_training)
    first = mfeat.prepare_view("mor")
    again = mfeat.prepare_view("mor")
    assert content_hash(first) == content_hash(again)
    report = first.info["backbone"]
    assert first.info["backbone_weights"].startswith("shipped")
    assert {"epoch", "val_accuracy", "test_accuracy"} <= set(report)
    _, shipped_report = mfeat.shipped_backbone("mor")
    assert shipped_report == {k: report[k] for k in shipped_report}
