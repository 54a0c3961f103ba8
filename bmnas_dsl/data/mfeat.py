"""UCI Multiple Features as a feature bank: split, standardisation, unimodal backbones.

Each view (fou, fac, kar, pix, zer, mor) is one modality. Its backbone is a small 1-D CNN
over the view's coefficient sequence, trained on the training split only (the epoch is
chosen on validation); the bank holds the backbone's intermediate features at three
depths, each with a position axis, and its pooled vector. Views are prepared on first use
and cached per view (docs/data.md gives sizes and measured accuracies).

The backbones of the default split (seed 0) ship with the package
(`mfeat-backbones.safetensors`, 220 KB): training them at first use gave other weights
on other machines (threads and CPU kernels reorder float sums), so the same command
searched other data. With the shipped weights a view is only a forward pass, on one
thread, and every machine of a kind builds the same bank (its content hash, `bmnas
data`, says so). `python -m bmnas_dsl.data.mfeat --write-backbones FILE` retrains them.
"""

from __future__ import annotations

import argparse
import copy
import io
import itertools
import json
import tarfile
import time
from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bmnas_dsl.data.bank import BankError, FeatureBank, load_bank, save_bank
from bmnas_dsl.data.cache import cache_root
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.nn.threads import torch_threads

VIEWS = {"fou": 76, "fac": 216, "kar": 64, "pix": 240, "zer": 47, "mor": 6}
DEFAULT_VIEWS = ("fou", "zer")
CLASSES = 10
PER_CLASS_SPLIT = (120, 40, 40)  # train, val, test samples of each digit: 1200/400/400
PREPARATION_VERSION = 2  # bump when preparation changes, so caches are rebuilt
EPOCHS = 40
SHIPPED_SEED = 0  # the split whose backbones ship with the package
BACKBONES = "mfeat-backbones.safetensors"


def read_views() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The six views (2000, D) and the labels, from the vendored archive."""
    archive = resources.files("bmnas_dsl.data").joinpath("mfeat.tar.xz").read_bytes()
    views: dict[str, np.ndarray] = {}
    labels = None
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:xz") as tar:
        for view in VIEWS:
            member = tar.extractfile(f"mfeat-{view}.csv")
            assert member is not None
            table = np.loadtxt(member, delimiter=",", skiprows=1)
            views[view] = table[:, :-1].astype(np.float64)
            view_labels = table[:, -1].astype(np.int64)
            if labels is not None and not np.array_equal(labels, view_labels):
                raise BankError(f"mfeat: labels of view {view} differ from the others")
            labels = view_labels
    assert labels is not None
    return views, labels


def stratified_split(labels: np.ndarray, seed: int) -> np.ndarray:
    """0/1/2 per sample: PER_CLASS_SPLIT samples of each class, shuffled by `seed`."""
    rng = np.random.default_rng(seed)
    split = np.empty(labels.shape[0], dtype=np.int8)
    bounds = np.cumsum(PER_CLASS_SPLIT)
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        if members.size != bounds[-1]:
            raise BankError(
                f"mfeat: class {label} has {members.size} samples, not {bounds[-1]}"
            )
        split[members[: bounds[0]]] = 0
        split[members[bounds[0] : bounds[1]]] = 1
        split[members[bounds[1] :]] = 2
    return split


def standardise(values: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Zero mean, unit variance per coefficient, with statistics of the training split."""
    mean = values[train].mean(axis=0)
    std = values[train].std(axis=0)
    return (values - mean) / np.where(std > 0, std, 1.0)


class Backbone(nn.Module):
    """A 1-D CNN over a view's coefficients: three conv stages, each halving the
    positions, then average pooling and a linear classifier."""

    def __init__(self, classes: int = CLASSES) -> None:
        super().__init__()
        widths = [1, 16, 32, 64]
        self.stages = nn.ModuleList(
            nn.Sequential(
                nn.Conv1d(cin, cout, 5 if cin == 1 else 3, padding="same"),
                nn.BatchNorm1d(cout),
                nn.ReLU(),
                nn.MaxPool1d(2, ceil_mode=True),
            )
            for cin, cout in itertools.pairwise(widths)
        )
        self.classifier = nn.Linear(widths[-1], classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        features = {}
        h = x.unsqueeze(1)
        for index, stage in enumerate(self.stages, start=1):
            h = stage(h)
            features[f"conv{index}"] = h
        features["pooled"] = h.mean(dim=2)
        return self.classifier(features["pooled"]), features


def _accuracy(model: Backbone, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return float((model(x)[0].argmax(1) == y).float().mean())


def train_backbone(
    values: np.ndarray,
    labels: np.ndarray,
    split: np.ndarray,
    seed: int,
    epochs: int = EPOCHS,
) -> tuple[Backbone, dict[str, float | int]]:
    """Train on the training split; keep the epoch with the best validation accuracy."""
    torch.manual_seed(seed)
    x = torch.tensor(values, dtype=torch.float32)
    y = torch.tensor(labels)
    train = torch.tensor(np.flatnonzero(split == 0))
    model = Backbone()
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(seed)
    best = (-1.0, 0, copy.deepcopy(model.state_dict()))
    val_mask, test_mask = split == 1, split == 2
    for epoch in range(1, epochs + 1):
        model.train()
        for batch in train[torch.randperm(train.numel(), generator=generator)].split(
            64
        ):
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(x[batch])[0], y[batch])
            loss.backward()
            optimiser.step()
        val = _accuracy(model, x[val_mask], y[val_mask])
        if val >= best[0]:  # ties go to the later epoch
            best = (val, epoch, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    report = {
        "epoch": best[1],
        "val_accuracy": round(best[0], 4),
        # Reported, never used for a choice.
        "test_accuracy": round(_accuracy(model, x[test_mask], y[test_mask]), 4),
    }
    return model.eval(), report


def shipped_backbone(view: str) -> tuple[Backbone, dict[str, float | int]]:
    """The shipped backbone of `view` (seed 0 split) and its training report."""
    from safetensors import safe_open

    with (
        resources.as_file(resources.files("bmnas_dsl.data") / BACKBONES) as path,
        safe_open(path, framework="pt") as shipped,
    ):
        prefix = f"{view}."
        state = {
            key[len(prefix) :]: shipped.get_tensor(key)
            for key in shipped.keys()  # noqa: SIM118 (safe_open has no __iter__)
            if key.startswith(prefix)
        }
        reports = json.loads(shipped.metadata()["reports"])
    model = Backbone()
    model.load_state_dict(state)
    return model.eval(), reports[view]


def write_backbones(path: str | Path, seed: int = SHIPPED_SEED) -> None:
    """Train every view's backbone on the split of `seed` and save them with their
    reports (the file that ships as BACKBONES)."""
    from safetensors.torch import save

    views, labels = read_views()
    split = stratified_split(labels, seed)
    tensors, reports = {}, {}
    for view in VIEWS:
        values = standardise(views[view], split == 0)
        with torch_threads(1):
            model, reports[view] = train_backbone(values, labels, split, seed)
        for key, value in model.state_dict().items():
            tensors[f"{view}.{key}"] = value.detach().contiguous()
    metadata = {
        "seed": str(seed),
        "epochs": str(EPOCHS),
        "reports": json.dumps(reports),
    }
    write_atomic(path, save(tensors, metadata=metadata))


def prepare_view(view: str, seed: int = 0, epochs: int = EPOCHS) -> FeatureBank:
    """One view as a one-modality bank: backbone features of all 2,000 samples."""
    if view not in VIEWS:
        raise BankError(f"mfeat has no view '{view}' (views: {', '.join(VIEWS)})")
    start = time.perf_counter()
    views, labels = read_views()
    split = stratified_split(labels, seed)
    values = standardise(views[view], split == 0)
    shipped = seed == SHIPPED_SEED and epochs == EPOCHS
    with torch_threads(1):  # same results on any machine: threads reorder float sums
        if shipped:
            model, report = shipped_backbone(view)
        else:
            model, report = train_backbone(values, labels, split, seed, epochs)
        with torch.no_grad():
            _, features = model(torch.tensor(values, dtype=torch.float32))
    return FeatureBank(
        features={f"{view}.{name}": t.numpy() for name, t in features.items()},
        labels=labels,
        split=split,
        task="multiclass",
        classes=CLASSES,
        info={
            "dataset": "mfeat",
            "view": view,
            "seed": seed,
            "epochs": epochs,
            "preparation_version": PREPARATION_VERSION,
            "backbone": {"kind": "1-D CNN, 3 stages (16, 32, 64 channels)", **report},
            "backbone_weights": f"shipped ({BACKBONES})" if shipped else "trained",
            "prepared_seconds": round(time.perf_counter() - start, 2),
            "source": "UCI Multiple Features (CC BY 4.0), see MFEAT-ATTRIBUTION.md",
        },
    )


def load_mfeat(views: tuple[str, ...] = DEFAULT_VIEWS, seed: int = 0) -> FeatureBank:
    """The bank of the chosen views, preparing and caching each view on first use."""
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        raise BankError(
            f"mfeat has no view {', '.join(unknown)} (views: {', '.join(VIEWS)})"
        )
    folder = cache_root() / f"mfeat-v{PREPARATION_VERSION}-seed{seed}"
    banks = []
    for view in views:
        path = folder / f"{view}.npz"
        if not path.exists():
            folder.mkdir(parents=True, exist_ok=True)
            save_bank(prepare_view(view, seed), path)
        banks.append(load_bank(path))
    first = banks[0]
    features = {name: array for bank in banks for name, array in bank.features.items()}
    return FeatureBank(
        features=features,
        labels=first.labels,
        split=first.split,
        task=first.task,
        classes=first.classes,
        info={
            "dataset": "mfeat",
            "views": list(views),
            "seed": seed,
            "backbones": {bank.info["view"]: bank.info["backbone"] for bank in banks},
        },
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bmnas_dsl.data.mfeat",
        description="Retrain the backbones of mfeat's six views (maintainers only: "
        f"the result replaces bmnas_dsl/data/{BACKBONES}; bump PREPARATION_VERSION).",
    )
    parser.add_argument("--write-backbones", metavar="FILE", required=True)
    parser.add_argument("--seed", type=int, default=SHIPPED_SEED)
    args = parser.parse_args(argv)
    write_backbones(args.write_backbones, args.seed)


if __name__ == "__main__":
    main()
