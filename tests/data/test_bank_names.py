"""A bank's modality and feature names must be ones a .bmg file can declare: refused when
a bank is written and when one is read, and a search on such a bank creates nothing."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_bmnas

from bmnas_dsl.data import bank as bank_module
from bmnas_dsl.data.bank import FeatureBank, load_bank, save_bank
from bmnas_dsl.errors import BankError


def named(*names: str) -> FeatureBank:
    n = 12
    rng = np.random.default_rng(0)
    return FeatureBank(
        features={
            name: rng.standard_normal((n, 4)).astype(np.float32) for name in names
        },
        labels=np.arange(n) % 2,
        split=np.repeat(np.array([0, 1, 2], dtype=np.int8), n // 3),
        task="multiclass",
        classes=2,
    )


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("class.f", ["modality name 'class'", "Python keyword"]),
        ("coarse-view.f", ["modality name 'coarse-view'", "not a .bmg name"]),
        ("video.x", ["feature name 'x'", "reserved"]),
        ("video.len", ["feature name 'len'", "builtin"]),
        ("video.2d", ["feature name '2d'", "not a .bmg name"]),
    ],
)
def test_names_the_language_cannot_express_are_refused_on_save(tmp_path, name, words):
    with pytest.raises(BankError) as caught:
        save_bank(named("a.ok", name), tmp_path / "b.npz")
    message = str(caught.value)
    assert "\n" not in message and ".bmg naming rule" in message
    for word in words:
        assert word in message, message
    assert not (tmp_path / "b.npz").exists()


def written_without_checks(tmp_path, monkeypatch, *names: str):
    # A bank file made by another tool: the same format, never validated.
    path = tmp_path / "foreign.npz"
    with monkeypatch.context() as patch:
        patch.setattr(bank_module, "validate", lambda bank, source="": bank)
        save_bank(named(*names), path)
    return path


def test_names_are_refused_when_a_bank_is_read(tmp_path, monkeypatch):
    path = written_without_checks(tmp_path, monkeypatch, "class.f", "a.ok")
    with pytest.raises(BankError, match="modality name 'class'"):
        load_bank(path)


def test_a_search_on_such_a_bank_fails_cleanly_and_creates_nothing(
    tmp_path, monkeypatch
):
    path = written_without_checks(tmp_path, monkeypatch, "class.f", "a.ok")
    out = tmp_path / "out"
    out.mkdir()
    result = run_bmnas("search", "--data", str(path), "-o", str(out / "a.bmg"))
    assert result.returncode == 1, result.stderr
    assert "internal error" not in result.stderr
    assert "modality name 'class'" in result.stderr
    assert list(out.iterdir()) == []  # no run directory left behind
