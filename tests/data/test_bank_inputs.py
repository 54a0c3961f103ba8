"""What a FeatureBank accepts (issue 13 item 2, docs/data.md "Array types"): lists,
tuples and torch tensors are converted, float64 features become float32 (float16 stays),
integer, bool and integral float labels int64, split codes or names int8; everything
else is one BankError naming the field, raised before any file is written."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import REPO

from bmnas_dsl.data.bank import BankError, FeatureBank, load_bank, save_bank
from bmnas_dsl.data.fingerprint import content_hash

N = 12
SPLIT = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]


def fields(**changes) -> dict:
    """The arguments of a valid 12-sample bank (numpy, canonical types), changed."""
    rng = np.random.default_rng(0)
    base = {
        "features": {
            "v.a": rng.standard_normal((N, 4, 3)).astype(np.float32),
            "w.b": rng.standard_normal((N, 5)).astype(np.float32),
        },
        "labels": np.arange(N, dtype=np.int64) % 3,
        "split": np.array(SPLIT, dtype=np.int8),
        "task": "multiclass",
        "classes": 3,
    }
    return base | changes


def features(a, b=None) -> dict:
    return {"v.a": a, "w.b": fields()["features"]["w.b"] if b is None else b}


def test_what_a_pytorch_user_has_is_converted_and_saved_as_the_format_says(tmp_path):
    reference = fields()
    a, b = reference["features"]["v.a"], reference["features"]["w.b"]
    given = FeatureBank(
        **fields(
            features={
                # a backbone's output, still attached to the graph
                "v.a": torch.from_numpy(a.copy()).requires_grad_() * 1.0,
                "w.b": b.tolist(),  # nested lists
            },
            labels=torch.arange(N, dtype=torch.int32) % 3,
            split=tuple(SPLIT),
            classes=np.int64(3),
        )
    )
    assert given.features["v.a"].dtype == np.float32
    assert given.labels.dtype == np.int64 and given.split.dtype == np.int8
    assert type(given.classes) is int
    save_bank(given, tmp_path / "bank.npz")
    loaded = load_bank(tmp_path / "bank.npz")
    np.testing.assert_array_equal(loaded.features["v.a"], a)
    np.testing.assert_array_equal(loaded.features["w.b"], b)
    np.testing.assert_array_equal(loaded.labels, reference["labels"])
    np.testing.assert_array_equal(loaded.split, reference["split"])
    # What a search hashes in memory is what the file holds.
    assert content_hash(given) == content_hash(loaded)
    assert content_hash(loaded) == content_hash(FeatureBank(**reference))


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("float64 features", {"features": features(np.linspace(0, 1, 48).reshape(N, 4))}, ("features", np.float32)),
        ("float16 features", {"features": features(np.ones((N, 4), np.float16) / 3)}, ("features", np.float16)),
        ("bfloat16 tensor", {"features": features(torch.ones(N, 4, dtype=torch.bfloat16))}, ("features", np.float32)),
        ("int32 labels", {"labels": (np.arange(N) % 3).astype(np.int32)}, ("labels", np.int64)),
        ("uint8 labels", {"labels": (np.arange(N) % 3).astype(np.uint8)}, ("labels", np.int64)),
        ("integral float labels", {"labels": torch.arange(N).float() % 3}, ("labels", np.int64)),
        ("bool multilabel labels", {"labels": np.eye(3, dtype=bool)[np.arange(N) % 3], "task": "multilabel"}, ("labels", np.int64)),
        ("split names", {"split": ["train"] * 4 + ["val"] * 4 + ["test"] * 4}, ("split", np.int8)),
        ("float split", {"split": np.array(SPLIT, dtype=np.float64)}, ("split", np.int8)),
    ],
)  # fmt: skip
def test_other_numeric_types_are_converted_losslessly_or_as_documented(
    name, value, expected, tmp_path
):
    given = fields(**value)
    bank = FeatureBank(**given)
    field, dtype = expected
    converted = bank.features["v.a"] if field == "features" else getattr(bank, field)
    assert converted.dtype == dtype, name
    original = given["features"]["v.a"] if field == "features" else given[field]
    if isinstance(original, torch.Tensor):
        original = original.float().numpy()
    if field == "split" and not isinstance(original, np.ndarray):
        original = np.array(SPLIT)  # the names, as codes
    # float64 rounds to the nearest float32; every other conversion is exact.
    np.testing.assert_array_equal(converted, np.asarray(original).astype(dtype))
    save_bank(bank, tmp_path / "bank.npz")
    loaded = load_bank(tmp_path / "bank.npz")
    if (
        dtype == np.float16
    ):  # kept in memory; a .npz bank holds float32, widened exactly
        assert loaded.features["v.a"].dtype == np.float32
        np.testing.assert_array_equal(loaded.features["v.a"], converted)
    else:
        assert content_hash(loaded) == content_hash(bank)


BAD = {
    "strings as a feature": (
        {"features": features(np.array([["x"] * 4] * N))},
        "features['v.a'] has dtype <U1; expected floats (float32 or float16; float64 is "
        "converted to float32)",
    ),
    "objects as a feature": (
        {"features": features([[object()] * 4] * N)},
        "features['v.a'] has dtype object (Python objects); expected floats",
    ),
    "ints as a feature": (
        {"features": features(np.ones((N, 4), np.int64))},
        "features['v.a'] has dtype int64; expected floats",
    ),
    "a ragged list": (
        {"features": features([[1.0, 2.0], [3.0]] * (N // 2))},
        "features['v.a'] (list) is not a rectangular array (setting an array element",
    ),
    "float64 beyond float32": (
        {"features": features(np.full((N, 4), 1e300))},
        "features['v.a'] has 48 value(s) beyond the float32 range (largest |value| "
        "1e+300); features are stored as float32",
    ),
    "a tensor numpy cannot read": (
        {"features": features(torch.ones(N, 4, device="meta"))},
        "features['v.a']: cannot read this torch tensor (",
    ),
    "features as a list": (
        {"features": [np.ones((N, 4), np.float32)]},
        "features must be a dict of 'modality.feature' -> (N, C, ...) array, not a list",
    ),
    "a feature name that is no string": (
        {"features": {3: np.ones((N, 4), np.float32)}},
        "feature name 3 is not a string 'modality.feature'",
    ),
    "fractional labels": (
        {"labels": np.arange(N) % 3 + 0.5},
        "labels have non-integral value 0.5 (dtype float64); expected integers",
    ),
    "NaN labels": (
        {"labels": np.full(N, np.nan)},
        "labels have non-integral value nan (dtype float64); expected integers",
    ),
    "string labels": (
        {"labels": ["cat"] * N},
        "labels have dtype <U3; expected integers (int64; other integer types, bool "
        "and floats with integral values are converted)",
    ),
    "an unknown split name": (
        {"split": ["train"] * 4 + ["valid"] * 4 + ["test"] * 4},
        "split has value 'valid'; expected 0 (train), 1 (val), 2 (test) or the names "
        "'train', 'val', 'test'",
    ),
    "a bool split": (
        {"split": np.array(SPLIT) > 0},
        "split has dtype bool; expected integers 0 (train), 1 (val), 2 (test)",
    ),
    # int8 would wrap 256 to 0 (train): the value must be refused, not wrapped.
    "a split code of 256": (
        {"split": np.array([*SPLIT[:-1], 256])},
        "split values must be 0 (train), 1 (val) or 2 (test)",
    ),
    "NaN in float64 features": (
        {"features": features(np.full((N, 4), np.nan))},
        "feature 'v.a' contains 48 NaN or Inf value(s)",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_what_cannot_be_converted_is_one_line_naming_the_field(case, tmp_path):
    change, message = BAD[case]
    with pytest.raises(BankError) as caught:
        save_bank(FeatureBank(**fields(**change)), tmp_path / "bank.npz")
    text = str(caught.value)
    assert text.startswith("feature bank: ") and "\n" not in text, text
    assert message in text, text
    assert list(tmp_path.iterdir()) == []


def test_every_problem_is_reported_at_once():
    with pytest.raises(BankError) as caught:
        FeatureBank(
            **fields(
                features=features(np.array([["x"] * 4] * N), [[1.0], [2.0, 3.0]] * 6),
                labels=np.full(N, 0.25),
                split=["train", "dev"] * 6,
            )
        )
    text = str(caught.value)
    for part in ("features['v.a'] has dtype <U1", "features['w.b'] (list)", "labels have non-integral value 0.25", "split has value 'dev'"):  # fmt: skip
        assert part in text, (part, text)


def test_provenance_that_is_not_json_is_a_bank_error(tmp_path):
    bank = FeatureBank(**fields(), info={"seed": np.int64(0)})
    with pytest.raises(BankError, match=r"^feature bank: info must hold JSON values"):
        save_bank(bank, tmp_path / "bank.npz")
    assert list(tmp_path.iterdir()) == []


def test_a_file_from_another_tool_is_converted_or_refused_with_its_path(tmp_path):
    """A bank written with np.savez by hand: float64 features and int32 labels load as
    float32 and int64; string labels are refused, the message starting with the path."""
    import json

    meta = {
        "format": "bmnas-feature-bank",
        "version": 1,
        "task": "multiclass",
        "classes": 3,
        "modalities": [
            {"name": "v", "features": [{"name": "a"}]},
            {"name": "w", "features": [{"name": "b"}]},
        ],
    }
    good = fields()
    arrays = {
        "meta": np.array(json.dumps(meta)),
        "v.a": good["features"]["v.a"].astype(np.float64),
        "w.b": good["features"]["w.b"],
        "split": good["split"],
    }
    np.savez(tmp_path / "wide.npz", labels=good["labels"].astype(np.int32), **arrays)
    loaded = load_bank(tmp_path / "wide.npz")
    assert loaded.features["v.a"].dtype == np.float32
    assert loaded.labels.dtype == np.int64
    assert content_hash(loaded) == content_hash(FeatureBank(**good))
    np.savez(tmp_path / "text.npz", labels=np.array(["a"] * N), **arrays)
    with pytest.raises(BankError) as caught:
        load_bank(tmp_path / "text.npz")
    assert str(caught.value).startswith(
        f"{tmp_path / 'text.npz'}: labels have dtype <U1"
    )


def test_saving_a_numpy_bank_does_not_import_torch(tmp_path):
    """Tensors are recognised without importing torch: a numpy user's save stays light."""
    code = (
        "import sys, numpy as np\n"
        "from bmnas_dsl.data.bank import FeatureBank, save_bank\n"
        "bank = FeatureBank(features={'v.a': np.ones((3, 2))}, labels=[0, 1, 0], "
        "split=['train', 'val', 'test'], task='multiclass', classes=2)\n"
        f"save_bank(bank, {str(tmp_path / 'b.npz')!r})\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
    assert load_bank(tmp_path / "b.npz").size == 3
