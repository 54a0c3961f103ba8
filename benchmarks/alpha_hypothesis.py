"""Does alpha rank features by their marginal contribution in the dense supernet?
(issue #12's hypothesis). For a finished `bmnas search` run directory (any selection):
per feature, the mean Identity probability over the cells, a standalone linear probe
(fit on the training split, accuracy on validation) and the trained supernet's
validation-loss increase when that feature's edge is cut in every cell; then the Spearman
correlation of alpha with each. Validation only.

    python benchmarks/alpha_hypothesis.py RUN_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

from bmnas_dsl.data.resolve import resolve_data
from bmnas_dsl.runs.layout import CHECKPOINT
from bmnas_dsl.search.record import read_settings
from bmnas_dsl.search.runner import Search


def spearman(a: list[float], b: list[float]) -> float:
    ranks_a, ranks_b = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ranks_a, ranks_b)[0, 1])


def probe(search: Search, columns: list[int]) -> float:
    """Validation accuracy of a logistic regression on the pooled features."""
    x = torch.cat([search.inputs[c].flatten(1) for c in columns], 1)
    train, val, y = search.train_index, search.val_index, search.labels
    x = (x - x[train].mean(0)) / (x[train].std(0) + 1e-6)
    torch.manual_seed(0)
    linear = torch.nn.Linear(x.shape[1], search.space.classes)
    optimiser = torch.optim.Adam(linear.parameters(), lr=1e-2, weight_decay=1e-3)
    for _ in range(200):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(linear(x[train]), y[train]).backward()
        optimiser.step()
    with torch.no_grad():
        return float((linear(x[val]).argmax(1) == y[val]).float().mean())


def cut_loss(search: Search, feature: int | None) -> float:
    """Supernet validation loss with `feature`'s edge set to Zero in every cell."""
    model = search.model.eval()
    saved = [a.detach().clone() for a in model.alpha_x]
    inputs, labels = search.batch(search.val_index)
    with torch.no_grad():
        if feature is not None:
            for alpha in model.alpha_x:
                alpha[feature] = torch.tensor([-30.0, 30.0])
        loss = float(search.loss(model(inputs), labels))
        for alpha, old in zip(model.alpha_x, saved, strict=True):
            alpha.copy_(old)
    return loss


def main(argv: list[str]) -> int:
    torch.set_num_threads(1)
    run = Path(argv[0])
    space, training, data, _ = read_settings(run)
    search = Search(resolve_data(data), space, training, data)
    search.load_state(torch.load(run / CHECKPOINT, weights_only=True))
    names = [name for name, _ in space.features]
    with torch.no_grad():
        weights = search.model.cell_weights()
    alpha = [
        float(np.mean([float(w.alpha_x[i]) for w in weights]))
        for i in range(len(names))
    ]
    solo = [probe(search, [i]) for i in range(len(names))]
    base = cut_loss(search, None)
    marginal = [cut_loss(search, i) - base for i in range(len(names))]
    print("| feature | alpha | probe val acc | supernet dloss when cut |")
    print("|---|---:|---:|---:|")
    for row in zip(names, alpha, solo, marginal, strict=True):
        print(f"| {row[0]} | {row[1]:.3f} | {row[2]:.3f} | {row[3]:+.4f} |")
    print(f"\nSpearman alpha ~ probe: {spearman(alpha, solo):+.2f}")
    print(f"Spearman alpha ~ marginal: {spearman(alpha, marginal):+.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
