"""What an extraction checks before any backbone runs or any file is written: the
options, the backbones and their layers, and everything the bank's own validation would
refuse that is known without the features (names, labels, split, task, classes, info),
so that a mistake costs no extraction and leaves nothing behind."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn

from bmnas_dsl.data.arrays import labels_of, split_of
from bmnas_dsl.data.bank import FeatureBank, problems
from bmnas_dsl.data.bankdir import FEATURE_DTYPES
from bmnas_dsl.errors import BankError
from bmnas_dsl.extract.backbone import Backbone
from bmnas_dsl.extract.batches import sample_count
from bmnas_dsl.extract.capture import check_layers
from bmnas_dsl.extract.errors import ExtractError
from bmnas_dsl.extract.pooling import CapturePool


@dataclass
class Request:
    """A checked extraction: per modality {modality.feature: layer}, the row count,
    labels and split as the bank stores them, the class count and the user's info."""

    plan: dict[str, dict[str, str]]
    rows: int
    labels: np.ndarray
    split: np.ndarray
    classes: int
    info: dict[str, Any]


def check_request(
    path: Path,
    backbones: Any,
    samples: Any,
    labels: Any,
    split: Any,
    *,
    task: str,
    classes: int | None,
    pool: int | None,
    dtype: str,
    batch_size: int,
    workers: int,
    info: dict[str, Any] | None,
) -> Request:
    where = str(path)
    _check_options(where, backbones, pool, dtype, batch_size, workers)
    plan = {m: b.features(m) for m, b in backbones.items()}
    rows = sample_count(samples)
    y, s, classes = _targets(where, labels, split, task, classes)
    names = [name for features in plan.values() for name in features]
    _check_bank(where, names, rows, y, s, task, classes)
    for modality, backbone in backbones.items():
        layers = list(plan[modality].values())
        check_layers(backbone.model, layers, at(where, modality))
    return Request(plan, rows, y, s, classes, _user_info(where, info))


def at(where: str, modality: str) -> str:
    """How a message names a backbone."""
    return f"{where}: backbone '{modality}'"


def _check_options(
    where: str,
    backbones: Any,
    pool: int | None,
    dtype: str,
    batch_size: int,
    workers: int,
) -> None:
    if not isinstance(backbones, Mapping) or not backbones:
        raise ExtractError(
            f"{where}: backbones must be a non-empty dict {{modality: Backbone}}"
        )
    for modality, backbone in backbones.items():
        if not isinstance(backbone, Backbone):
            raise ExtractError(
                f"{where}: backbones['{modality}'] is a {type(backbone).__name__}, "
                "not a Backbone"
            )
        if not isinstance(backbone.model, nn.Module):
            raise ExtractError(
                f"{at(where, modality)}: the model is a "
                f"{type(backbone.model).__name__}, not a torch.nn.Module"
            )
    CapturePool(pool)  # refuses a pool that is no positive integer
    if dtype not in FEATURE_DTYPES:
        raise ExtractError(
            f"{where}: dtype {dtype!r}; use {' or '.join(FEATURE_DTYPES)}"
        )
    for what, value, least in (("batch_size", batch_size, 1), ("workers", workers, 0)):
        if type(value) is not int or value < least:
            raise ExtractError(f"{where}: {what} must be an integer >= {least}")


def _targets(
    where: str, labels: Any, split: Any, task: str, classes: int | None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Labels and split as the bank stores them, and the class count (by default the
    largest label + 1, or a multilabel array's width)."""
    found: list[str] = []
    y, s = labels_of(labels, found), split_of(split, found)
    if found:
        raise BankError(f"{where}: " + "; ".join(found))
    if classes is None and y.size:
        multilabel = task == "multilabel" and y.ndim == 2
        classes = int(y.shape[1]) if multilabel else int(y.max()) + 1
    return y, s, classes if classes is not None else 0


def _check_bank(
    where: str,
    names: list[str],
    rows: int,
    labels: np.ndarray,
    split: np.ndarray,
    task: str,
    classes: int,
) -> None:
    """The bank's validation, with stand-in features of the right row count."""
    if rows == 0:
        raise ExtractError(f"{where}: the samples are empty")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ExtractError(f"{where}: feature '{repeated[0]}' is captured twice")
    stand_in = {name: np.zeros((rows, 1), np.float32) for name in names}
    found = problems(FeatureBank(stand_in, labels, split, task=task, classes=classes))
    if any(" name '" in problem for problem in found):
        found.append("Backbone(model, layers={feature: layer}) names the features")
    if found:
        raise BankError(f"{where}: " + "; ".join(found))


def _user_info(where: str, info: dict[str, Any] | None) -> dict[str, Any]:
    info = dict(info or {})
    if "extraction" in info:
        raise ExtractError(f"{where}: info key 'extraction' is the extraction's own")
    try:
        json.dumps(info)
    except (TypeError, ValueError) as exc:
        raise ExtractError(f"{where}: info must hold JSON values ({exc})") from None
    return info
