"""Capturing layers: an FX graph for traceable models (a torchvision ResNet with random
weights), forward hooks for the others, the same features either way, and one-line
errors for layers that cannot be captured (issue 14, item 4)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from extract_models import (
    Branchy,
    Counting,
    Maps,
    Recurrent,
    Twice,
    WithHead,
    seeded,
    toy_data,
)

from bmnas_dsl.data.bankdir import open_arrays
from bmnas_dsl.extract import Backbone, extract_bank
from bmnas_dsl.extract.capture import capture_layers, fx_capture
from bmnas_dsl.extract.errors import ExtractError
from bmnas_dsl.extract.vision import import_torchvision


def images(rows: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, 3, 32, 32)).astype(np.float32)
    split = np.tile(np.array([0, 0, 1, 2], dtype=np.int8), rows // 4)
    return x, np.arange(rows) % 2, split


def extract(tmp_path, model, layers, x, labels, split, name="b.bank", **options):
    result = extract_bank(
        tmp_path / name,
        {"m": Backbone(model, layers)},
        x,
        labels,
        split,
        progress=False,
        **options,
    )
    return result, open_arrays(tmp_path / name)[1]


def test_a_torchvision_resnet_is_captured_by_fx_as_torchvision_would(tmp_path):
    torchvision = import_torchvision()
    from torchvision.models.feature_extraction import create_feature_extractor

    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None)  # random weights
    x, labels, split = images()
    layers = ["layer2", "layer3.1", "layer4"]
    result, features = extract(tmp_path, model, layers, x, labels, split, batch_size=5)
    assert result.captures == {"m": "fx"} and result.notes == {}
    reference = create_feature_extractor(model.eval(), layers)
    with torch.no_grad():
        expected = reference(torch.from_numpy(x))
    for layer in layers:
        name = "m." + layer.replace(".", "_")
        assert features[name].shape == tuple(expected[layer].shape)
        torch.testing.assert_close(
            torch.from_numpy(np.array(features[name])), expected[layer]
        )


def test_the_fx_graph_stops_after_the_last_captured_layer(tmp_path):
    x, labels, split = toy_data(rows=8)
    model = seeded(WithHead())
    rows = []  # the rows the head's linear layer sees
    model.head[1].register_forward_hook(lambda m, i, o: rows.append(o.shape[0]))
    result, features = extract(tmp_path, model, ["features"], x, labels, split)
    assert result.captures == {"m": "fx"}
    # The head ran once, on the first sample, when the graph was checked against the
    # eager model; never on the batches.
    assert rows == [1]
    with torch.no_grad():
        expected = model.features(torch.from_numpy(x))
    assert np.array_equal(features["m.features"], expected)
    rows.clear()
    extract(tmp_path, model, ["features"], x, labels, split, "h.bank", capture="hooks")
    assert sum(rows) >= len(x)  # hooks run the whole model on every batch


def test_a_model_fx_cannot_trace_is_captured_with_hooks(tmp_path):
    x, labels, split = toy_data()
    model = seeded(Branchy())
    result, features = extract(tmp_path, model, ["up", "down"], x, labels, split)
    assert result.captures == {"m": "hooks"}
    assert "not FX-traceable" in result.notes["m"]
    # What a hand-written forward hook sees, batch by batch as the extraction ran.
    seen = []
    handle = model.up.register_forward_hook(lambda m, i, o: seen.append(o))
    with torch.no_grad():
        for first in range(0, len(x), 64):
            model(torch.from_numpy(x[first : first + 64]))
    handle.remove()
    assert np.array_equal(features["m.up"], torch.cat(seen).numpy())
    assert features["m.up"].shape == (len(x), 3, 4)
    with pytest.raises(ExtractError, match="cannot capture with FX: not FX-traceable"):
        extract(tmp_path, model, ["up"], x, labels, split, "fx.bank", capture="fx")
    assert not (tmp_path / "fx.bank").exists()


def test_fx_and_hooks_give_the_same_bank(tmp_path):
    x, labels, split = toy_data(rows=21)
    model = seeded(Maps())
    layers = list(Maps.SHAPES)
    by_fx = extract(tmp_path, model, layers, x, labels, split, "a.bank", capture="fx")
    by_hooks = extract(
        tmp_path, model, layers, x, labels, split, "b.bank", capture="hooks"
    )
    assert by_fx[0].captures == {"m": "fx"} and by_hooks[0].captures == {"m": "hooks"}
    for name, array in by_fx[1].items():
        assert np.array_equal(array, by_hooks[1][name]), name


def test_a_graph_that_differs_from_the_eager_model_falls_back_to_hooks():
    model = Counting().eval()
    probe = torch.ones(1, 10)
    with (
        torch.inference_mode(),
        capture_layers(model, ["out"], "auto", probe, "b") as (capture, method, note),
    ):
        assert method == "hooks"
        assert "differ from the eager model's" in note
        assert capture(probe)["out"].shape == (1, 2, 3)


def test_a_layer_the_model_does_not_have_is_named_with_a_suggestion(tmp_path):
    x, labels, split = toy_data()
    with pytest.raises(ExtractError) as error:
        extract(tmp_path, seeded(Branchy()), ["upp"], x, labels, split)
    message = str(error.value)
    assert "the model has no layer 'upp'; did you mean 'up'?" in message
    assert "top level: body, up, down" in message
    assert list(tmp_path.iterdir()) == []  # nothing was created


@pytest.mark.parametrize(
    ("model", "layer", "expected"),
    [
        (Recurrent(), "lstm", "layer 'lstm' gives a tuple, not a tensor"),
        (Twice(), "shared", "layer 'shared' ran 2 times in one forward pass"),
    ],
)
def test_layers_that_cannot_be_features_are_refused(tmp_path, model, layer, expected):
    x, labels, split = toy_data()
    with pytest.raises(ExtractError, match=expected):
        extract(tmp_path, model, [layer], x, labels, split)
    assert list(tmp_path.iterdir()) == []


def test_fx_refuses_a_layer_called_twice_before_hooks_do():
    with pytest.raises(ExtractError, match="is called 2 times in the traced graph"):
        fx_capture(Twice(), ["shared"])


def test_an_unknown_capture_method_is_refused(tmp_path):
    x, labels, split = toy_data()
    with pytest.raises(ExtractError, match="capture method 'jit'"):
        extract(tmp_path, Maps(), ["equal"], x, labels, split, capture="jit")
