"""Pooling at capture time equals the generated model's reshape layer pooling the raw
map (issue 14, item 4): the bank stores (C_in, L), and a model built on it computes
what a model built on the raw maps computes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from extract_models import Maps, seeded, toy_data

from bmnas_dsl.data.bankdir import open_arrays
from bmnas_dsl.extract import Backbone, extract_bank
from bmnas_dsl.extract.errors import ExtractError
from bmnas_dsl.extract.pooling import CapturePool, stored_shape
from bmnas_dsl.nn.layers import PositionPool, Reshape

L = 4


@pytest.fixture(scope="module")
def banks(tmp_path_factory) -> dict[str, tuple]:
    """The same backbone and data extracted raw and pooled to L (float32 and float16)."""
    out = tmp_path_factory.mktemp("banks")
    x, labels, split = toy_data(rows=37)  # not a multiple of the batch
    model = seeded(Maps())
    found = {}
    for name, pool, dtype in (
        ("raw", None, "float32"),
        ("pooled", L, "float32"),
        ("half", L, "float16"),
    ):
        extract_bank(
            out / f"{name}.bank",
            {"m": Backbone(model, list(Maps.SHAPES))},
            x,
            labels,
            split,
            pool=pool,
            dtype=dtype,
            batch_size=8,
            progress=False,
        )
        found[name] = open_arrays(Path(out / f"{name}.bank"))
    return found


def test_stored_shapes_are_channels_by_L_and_vectors_stay():
    assert stored_shape((2048, 8, 8, 8), 8) == (2048, 8)
    assert stored_shape((64, 3), 8) == (64, 8)
    assert stored_shape((512,), 8) == (512,)
    assert stored_shape((2048, 8, 8, 8), None) == (2048, 8, 8, 8)


def test_the_bank_holds_the_raw_shapes_and_the_pooled_ones(banks):
    raw_meta, raw, _, _ = banks["raw"]
    meta, pooled, _, _ = banks["pooled"]
    for layer, shape in Maps.SHAPES.items():
        name = f"m.{layer}"
        assert raw[name].shape == (37, *shape)
        expected = (shape[0],) if len(shape) == 1 else (shape[0], L)
        assert pooled[name].shape == (37, *expected)
    [modality] = meta["modalities"]
    assert {f["name"]: tuple(f["shape"]) for f in modality["features"]} == {
        layer: (s[0],) if len(s) == 1 else (s[0], L) for layer, s in Maps.SHAPES.items()
    }
    raw_shapes = meta["info"]["extraction"]["backbones"]["m"]["raw_shapes"]
    assert raw_shapes == {f"m.{k}": list(v) for k, v in Maps.SHAPES.items()}
    assert raw_meta["info"]["extraction"]["pool"] is None
    assert meta["info"]["extraction"]["pool"] == L


def test_pooled_features_equal_position_pooling_of_the_raw_maps(banks):
    _, raw, _, _ = banks["raw"]
    _, pooled, _, _ = banks["pooled"]
    for layer, shape in Maps.SHAPES.items():
        name = f"m.{layer}"
        maps = torch.from_numpy(np.array(raw[name]))
        if len(shape) == 1:
            assert np.array_equal(pooled[name], raw[name])
            continue
        rest = int(np.prod(shape[2:])) if len(shape) > 2 else 1
        by_layer = PositionPool(shape[1], L, rest)(maps)
        assert torch.equal(torch.from_numpy(np.array(pooled[name])), by_layer), name
        # The spec's own definition, independently: view as (N, C, d1, P), adaptive max
        # pooling to (L, 1).
        view = maps.reshape(maps.shape[0], shape[0], shape[1], -1)
        spec = torch.nn.AdaptiveMaxPool2d((L, 1))(view).squeeze(-1)
        assert torch.equal(torch.from_numpy(np.array(pooled[name])), spec), name


def test_a_model_on_the_pooled_bank_computes_what_one_on_the_raw_maps_does(banks):
    # The generated model's reshape layer (pooling, then Conv1d-BN-ReLU-Dropout) built
    # for the raw shape, fed raw maps, against the same layer built for the stored
    # shape, fed the bank: same weights, same outputs.
    _, raw, _, _ = banks["raw"]
    _, pooled, _, _ = banks["pooled"]
    for layer, shape in Maps.SHAPES.items():
        name = f"m.{layer}"
        stored = tuple(pooled[name].shape[1:])
        on_raw = seeded(Reshape(shape, 8, L, 0.1), seed=3).eval()
        on_bank = Reshape(stored, 8, L, 0.1).eval()
        on_bank.load_state_dict(on_raw.state_dict())
        with torch.no_grad():
            a = on_raw(torch.from_numpy(np.array(raw[name])))
            b = on_bank(torch.from_numpy(np.array(pooled[name])))
        assert a.shape == b.shape == (37, 8, L)
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)
        if len(stored) == 2:  # the model's own pooling of a stored map: the identity
            assert on_bank.pool.mode == "identity"


def test_float16_banks_store_the_rounded_float32_features(banks):
    _, pooled, _, _ = banks["pooled"]
    _, half, _, _ = banks["half"]
    for name, array in pooled.items():
        assert half[name].dtype == np.float16
        assert np.array_equal(half[name], np.asarray(array).astype(np.float16))


def test_pool_must_be_a_positive_integer():
    for bad in (0, -1, 2.5, "8"):
        with pytest.raises(ExtractError, match="pool must be a positive integer"):
            CapturePool(bad)
