"""Bank directories (format version 2): written in chunks by BankWriter, read through
memory maps, never mistaken for complete when a write was killed, converted to and from
version 1 (issue 14, items 1 and 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_bmnas

from bmnas_dsl.data.bank import load_bank, save_bank
from bmnas_dsl.data.bankdir import META, is_bank_dir, open_arrays
from bmnas_dsl.data.bankwriter import BankWriter, partial_path
from bmnas_dsl.data.convert import convert_bank
from bmnas_dsl.data.fingerprint import content_hash
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.errors import BankError


@pytest.fixture(scope="module")
def planted():
    return make_planted(size=400, seed=3)


def write_in_chunks(
    bank, path, chunk=64, stop_after=None, resume=False, dtype="float32"
):
    shapes = {name: bank.shape(name) for name in bank.features}
    writer = BankWriter(
        path,
        size=bank.size,
        features=shapes,
        task=bank.task,
        classes=bank.classes,
        dtype=dtype,
        info={"made": "test"},
        resume=resume,
    )
    for start in range(writer.rows, bank.size, chunk):
        if stop_after is not None and start >= stop_after:
            raise KeyboardInterrupt  # the extraction is killed here
        rows = slice(start, start + chunk)
        writer.append(
            {n: a[rows] for n, a in bank.features.items()},
            labels=bank.labels[rows],
            split=bank.split[rows],
        )
    return writer.close()


def assert_same_data(a, b):
    assert list(a.features) == list(b.features)
    for name in a.features:
        np.testing.assert_array_equal(np.asarray(a.features[name]), b.features[name])
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.split, b.split)
    assert (a.task, a.classes) == (b.task, b.classes)


def test_a_bank_written_in_chunks_reads_back_memory_mapped(planted, tmp_path):
    path = write_in_chunks(planted, tmp_path / "p.bank")
    assert is_bank_dir(path) and not partial_path(path).exists()
    meta, features, _, _ = open_arrays(path)
    assert meta["version"] == 2 and meta["size"] == 400
    assert all(isinstance(a, np.memmap) for a in features.values())
    bank = load_bank(path)
    assert_same_data(planted, bank)
    assert isinstance(bank.features["a.f1"], np.memmap)
    # The hash the writer recorded is the hash of the data, as for a version 1 bank.
    assert meta["content_sha256"] == content_hash(planted) == content_hash(bank)


def test_a_killed_writer_leaves_nothing_that_looks_like_a_bank(planted, tmp_path):
    path = tmp_path / "p.bank"
    with pytest.raises(KeyboardInterrupt):
        write_in_chunks(planted, path, stop_after=200)
    assert not path.exists() and not is_bank_dir(path)
    assert not (partial_path(path) / META).exists()
    with pytest.raises(
        BankError, match=r"no such file|no meta\.json|not a feature bank"
    ):
        load_bank(path)
    # Resumed from the last recorded chunk, it equals an uninterrupted write.
    write_in_chunks(planted, path, resume=True)
    whole = write_in_chunks(planted, tmp_path / "whole.bank")
    for name in ("labels.npy", "split.npy", "a.f3.npy", "b.f4.npy"):
        assert (path / name).read_bytes() == (whole / name).read_bytes()
    metas = [json.loads((p / META).read_text()) for p in (path, whole)]
    for meta in metas:
        del meta["written"]  # modification times
    assert metas[0] == metas[1]


def test_a_partial_bank_of_another_layout_is_not_continued(planted, tmp_path):
    path = tmp_path / "p.bank"
    with pytest.raises(KeyboardInterrupt):
        write_in_chunks(planted, path, stop_after=100)
    with pytest.raises(BankError, match="another layout"):
        BankWriter(path, size=10, features={"a.x": (3,)}, task="multiclass",
                   classes=4, resume=True)  # fmt: skip


@pytest.mark.parametrize(
    "chunk, message",
    [
        ({"a.f1": np.zeros((4, 8, 6))}, "missing"),
        (
            {"a.f1": np.zeros((4, 8, 5)), "a.f2": np.zeros((4, 16, 6))},
            "expected [4, 8, 6]",
        ),
    ],
)
def test_a_chunk_of_the_wrong_shape_or_features_is_refused(tmp_path, chunk, message):
    writer = BankWriter(
        tmp_path / "x.bank",
        size=8,
        features={"a.f1": (8, 6), "a.f2": (16, 6)},
        task="multiclass",
        classes=2,
    )
    with pytest.raises(BankError, match=message.replace("[", r"\[")):
        writer.append(chunk, labels=np.zeros(4, dtype=np.int64), split=np.zeros(4))
    assert writer.rows == 0


def test_closing_an_unfinished_bank_is_refused_and_keeps_it_partial(tmp_path):
    writer = BankWriter(
        tmp_path / "x.bank", size=8, features={"a.f1": (3,)}, task="multiclass",
        classes=2,
    )  # fmt: skip
    writer.append({"a.f1": np.ones((4, 3))}, labels=np.zeros(4), split=np.zeros(4))
    with pytest.raises(BankError, match="4 of 8 rows written"):
        writer.close()
    assert not (tmp_path / "x.bank").exists()


def test_a_bank_with_nan_is_refused_on_close(planted, tmp_path):
    features = {n: np.array(a) for n, a in planted.features.items()}
    features["b.f2"][7, 3, 1] = np.nan
    writer = BankWriter(
        tmp_path / "x.bank",
        size=planted.size,
        features={n: planted.shape(n) for n in features},
        task=planted.task,
        classes=planted.classes,
    )
    writer.append(features, labels=planted.labels, split=planted.split)
    with pytest.raises(BankError, match=r"'b\.f2' contains 1 NaN or Inf"):
        writer.close()
    assert not (tmp_path / "x.bank").exists()


def test_a_bank_directory_written_by_numpy_alone_is_read(planted, tmp_path):
    # The documented contract (docs/data.md): meta.json and .npy files, nothing else.
    path = tmp_path / "np.bank"
    path.mkdir()
    modalities = {}
    for name, array in planted.features.items():
        np.save(path / f"{name}.npy", array.astype(np.float16))
        modality, feature = name.split(".")
        modalities.setdefault(modality, []).append(
            {"name": feature, "shape": list(array.shape[1:]), "dtype": "float16"}
        )
    np.save(path / "labels.npy", planted.labels)
    np.save(path / "split.npy", planted.split)
    meta = {
        "format": "bmnas-feature-bank", "version": 2, "task": "multiclass",
        "classes": 4, "size": planted.size,
        "modalities": [{"name": m, "features": f} for m, f in modalities.items()],
        "info": {},
    }  # fmt: skip
    (path / META).write_text(json.dumps(meta))
    bank = load_bank(path)
    assert bank.features["a.f1"].dtype == np.float16
    np.testing.assert_array_equal(
        bank.features["a.f3"], planted.features["a.f3"].astype(np.float16)
    )


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m.update(version=3), "version 3"),
        (lambda m: m.update(size=401), "declares"),
        (lambda m: m["modalities"][0]["features"][0].update(dtype="int8"), "dtype"),
        (lambda m: m["modalities"][0]["features"].pop(0), "not declared in meta.json"),
    ],
)
def test_a_bank_directory_that_disagrees_with_its_meta_is_refused(
    planted, tmp_path, edit, message
):
    path = write_in_chunks(planted, tmp_path / "p.bank")
    meta = json.loads((path / META).read_text())
    edit(meta)
    (path / META).write_text(json.dumps(meta))
    with pytest.raises(BankError, match=message) as caught:
        load_bank(path)
    assert "\n" not in str(caught.value)


def test_convert_both_ways_keeps_the_data_and_its_hash(planted, tmp_path):
    v1 = tmp_path / "p.npz"
    save_bank(planted, v1)
    v2 = convert_bank(load_bank(v1), tmp_path / "p.bank")
    back = convert_bank(load_bank(v2), tmp_path / "back.npz")
    assert_same_data(planted, load_bank(back))
    assert content_hash(load_bank(v2)) == content_hash(load_bank(v1))
    half = convert_bank(load_bank(v1), tmp_path / "half.bank", dtype="float16")
    assert load_bank(half).features["a.f1"].dtype == np.float16


def test_bmnas_data_convert_and_describe(planted, tmp_path):
    v1 = tmp_path / "p.npz"
    save_bank(planted, v1)
    out = tmp_path / "p16.bank"
    result = run_bmnas("data", "convert", str(v1), str(out), "--dtype", "float16")
    assert result.returncode == 0, result.stderr
    assert is_bank_dir(out)
    described = run_bmnas("data", str(out), "--json")
    assert described.returncode == 0, described.stderr
    facts = json.loads(described.stdout)
    assert facts["samples"] == 400 and facts["format_version"] == 2
    assert {f["dtype"] for f in facts["features"]} == {"float16"}
    again = run_bmnas("data", "convert", str(v1), str(out))
    assert again.returncode == 1 and "exists" in again.stderr
