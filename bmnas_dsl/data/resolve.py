"""Data sets bmnas knows by name, and `--data` resolution (a name or a bank path)."""

from __future__ import annotations

from pathlib import Path

from bmnas_dsl.data.bank import BankError, FeatureBank, load_bank
from bmnas_dsl.data.bankdir import SUFFIX, is_bank_dir

NAMES = ("mfeat", "planted")


def resolve_data(spec: str) -> FeatureBank:
    """`mfeat`, `mfeat:fou,kar` (views), `planted`, or the path of a feature bank."""
    name, _, options = spec.partition(":")
    if name == "mfeat":
        from bmnas_dsl.data.mfeat import DEFAULT_VIEWS, load_mfeat

        views = tuple(v for v in options.split(",") if v) or DEFAULT_VIEWS
        return load_mfeat(views)
    if name == "planted" and not options:
        from bmnas_dsl.data.planted import make_planted

        return make_planted()
    path = Path(spec)
    if spec and path.is_dir() and not is_bank_dir(path):
        raise BankError(
            f"{spec}: a directory without meta.json, not a feature bank (a bank "
            "directory or an .npz, docs/data.md)"
        )
    if spec and path.exists():
        return _load_untrusted(path)
    if "/" in spec or spec.endswith((".npz", SUFFIX)):  # a path, not a name
        raise BankError(f"{spec}: no such file (a feature bank, docs/data.md)")
    raise BankError(
        f"unknown data '{spec}': give a registered name ({', '.join(NAMES)}; "
        "mfeat:VIEW,VIEW selects views) or the path of a feature bank (a bank "
        "directory or an .npz)"
    )


def _load_untrusted(path: Path) -> FeatureBank:
    """load_bank for a file from anyone: a `meta` entry of the wrong JSON shape (a list,
    a modality without features, classes as a string) fails inside load_bank with a
    KeyError, TypeError or AttributeError; it is a bad file, not a bug of bmnas."""
    try:
        bank = load_bank(path)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise BankError(
            f"{path}: not a valid feature bank: malformed 'meta' "
            f"({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(bank.info, dict):
        raise BankError(f"{path}: not a valid feature bank: 'meta' info is not a map")
    return bank
