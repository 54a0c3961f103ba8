"""Search and training on memory-mapped bank directories (issue 14, item 3): the same
genotype and weights as from the same data in memory, also when the features are read
batch by batch and the pooled features are cached on disk; a float16 bank recovers the
planted structure as float32 does."""

from __future__ import annotations

import numpy as np
import pytest
from test_search import planted_cells, without_timing

from bmnas_dsl.data.bank import load_bank, save_bank
from bmnas_dsl.data.convert import convert_bank
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.nn import batches
from bmnas_dsl.search import pooling
from bmnas_dsl.search.runner import Search, run_search, space_for
from bmnas_dsl.search.settings import Training
from bmnas_dsl.train.runner import train_genotype
from bmnas_dsl.train.settings import TrainSettings

TRAINING = Training(epochs=3, threads=1, candidates=16, rerank=1, rerank_epochs=2)


@pytest.fixture(scope="module")
def banks(tmp_path_factory):
    folder = tmp_path_factory.mktemp("banks")
    save_bank(make_planted(size=600, seed=2), folder / "p.npz")
    v1 = load_bank(folder / "p.npz")
    v2 = load_bank(convert_bank(v1, folder / "p.bank"))
    return v1, v2


def search(bank, folder, training=TRAINING):
    space = space_for(bank, C=8, L=4)
    return run_search(bank, space, training, "planted", folder, "a.bmg")


def test_a_bank_directory_searches_as_the_same_data_in_memory(banks, tmp_path):
    v1, v2 = banks
    assert isinstance(v2.features["a.f1"], np.memmap)
    assert without_timing(search(v1, tmp_path / "v1")) == without_timing(
        search(v2, tmp_path / "v2")
    )


def test_streamed_features_and_the_pooled_cache_give_the_same_search(
    banks, tmp_path, monkeypatch
):
    v1, v2 = banks
    # As if the bank were large: nothing memory-mapped is read into memory.
    monkeypatch.setattr(batches, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(pooling, "IN_MEMORY_BYTES", 0)
    # 32 rows of the pooled features (144 channels x L 4 floats): 4 parts of val.
    monkeypatch.setattr(batches, "EVAL_BYTES", 32 * 144 * 4 * 4)
    streamed = Search(v2, space_for(v2, C=8, L=4), TRAINING, "planted")
    assert all(column.streamed for column in streamed.columns)
    assert len(streamed.val_parts()) == 4
    cache = pooling.cache_dir(v2)
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        f"{name}.L4.npy" for name in v2.features
    )
    assert not list(cache.glob(".*"))  # no partial file left
    text = search(v2, tmp_path / "streamed")
    monkeypatch.undo()
    assert without_timing(text) == without_timing(search(v1, tmp_path / "memory"))


def test_a_bank_directory_trains_as_the_same_data_in_memory(
    banks, tmp_path, monkeypatch
):
    v1, v2 = banks
    genotype = search(v1, tmp_path / "s")
    settings = TrainSettings(epochs=2, threads=1)
    memory = train_genotype(
        genotype, v1, settings, tmp_path / "t1", show_progress=False
    )
    monkeypatch.setattr(batches, "IN_MEMORY_BYTES", 0)
    mapped = train_genotype(
        genotype, v2, settings, tmp_path / "t2", show_progress=False
    )
    assert mapped["test"] == memory["test"]
    assert (tmp_path / "t1" / "weights.safetensors").read_bytes() == (
        tmp_path / "t2" / "weights.safetensors"
    ).read_bytes()


def test_a_float16_bank_recovers_the_planted_structure(tmp_path):
    bank = make_planted()
    half = load_bank(convert_bank(bank, tmp_path / "half.bank", dtype="float16"))
    assert half.features["a.f3"].dtype == np.float16
    # The settings of tests/search/test_search.py::test_planted_structure_is_recovered.
    training = Training(epochs=6, seed=0, threads=1, selection="paper")
    for data in (bank, half):
        space = space_for(data, C=16, L=6, cells=1, steps=1)
        text = run_search(data, space, training, "planted", tmp_path / "r", "p.bmg")
        assert planted_cells(text) == {("a.f3", "b.f2")}
