"""A backbone of an extraction: the user's model, the layers to capture, its weights;
preparing it (weights loaded, eval mode, what the bank records) and feeding it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bmnas_dsl.extract.batches import inputs_for
from bmnas_dsl.extract.weights import file_sha256, load_weights, state_sha256


@dataclass
class Backbone:
    """One backbone: the model, the layers to capture and, optionally, a weights file
    to load into it first (recorded with its hash).

    `layers` names modules as in `model.named_modules()`: a list stores `layer4.1` as
    feature `MODALITY.layer4_1`; a dict {feature: layer} chooses the feature names.
    `input` is the entry of dict samples the backbone reads (default: its modality);
    `name` says in the bank's info what the model is (default: its class).
    """

    model: nn.Module
    layers: Sequence[str] | Mapping[str, str]
    weights: str | Path | None = None
    input: str | None = None
    name: str | None = None

    def features(self, modality: str) -> dict[str, str]:
        """{modality.feature: layer}."""
        if isinstance(self.layers, Mapping):
            pairs = list(self.layers.items())
        elif isinstance(self.layers, str):
            pairs = [(self.layers.replace(".", "_"), self.layers)]
        else:
            pairs = [(layer.replace(".", "_"), layer) for layer in self.layers]
        return {f"{modality}.{feature}": layer for feature, layer in pairs}


def prepare(backbone: Backbone) -> dict[str, Any]:
    """Load the weights file, if any, and set eval mode; what the bank records about
    the model and its weights."""
    model = backbone.model
    kind = type(model)
    record: dict[str, Any] = {
        "model": backbone.name or f"{kind.__module__}.{kind.__qualname__}",
        "weights_file": None,
        "weights_file_sha256": None,
    }
    if backbone.weights is not None:
        load_weights(model, backbone.weights)
        record["weights_file"] = str(backbone.weights)
        record["weights_file_sha256"] = file_sha256(backbone.weights)
    record["state_sha256"] = state_sha256(model)
    model.eval()  # dropout off, batch norm on its running statistics
    return record


def model_input(backbone: Backbone, inputs: Any, modality: str) -> Any:
    """The backbone's input from a batch: on the model's device, floats in the dtype
    of its parameters (numpy gives float64; integer inputs, token ids, stay)."""
    value = inputs_for(inputs, backbone.input or modality, modality)
    if not isinstance(value, torch.Tensor):
        return value
    tensors = [*backbone.model.parameters(), *backbone.model.buffers()]
    device = tensors[0].device if tensors else torch.device("cpu")
    floats = [t.dtype for t in tensors if t.is_floating_point()]
    if value.is_floating_point() and floats and value.dtype != floats[0]:
        value = value.to(floats[0])
    return value.to(device)
