"""Extract a feature bank from your own backbones, then search on it (docs/data.md,
"Extracting a bank from your own backbones").

The data is real and ships with bmnas (UCI Multiple Features, 2,000 handwritten
digits): each digit's 16x15 pixel image (the `pix` view) and the 76 Fourier
coefficients of its contour (`fou`). Two small backbones are trained here, on the
training split only, for a few seconds: a 2-D CNN on the images and a 1-D CNN on the
contour coefficients. `extract_bank` then runs both over all 2,000 digits and stores
their intermediate layers, pooled to L positions, as a bank directory that
`bmnas search` reads.

    python examples/extract_digits.py                # writes build/digits.bank
    bmnas data build/digits.bank
    bmnas search --data build/digits.bank -o build/digits.bmg --threads 1
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bmnas_dsl.data.mfeat import read_views, standardise, stratified_split
from bmnas_dsl.extract import Backbone, extract_bank
from bmnas_dsl.nn.threads import torch_threads

CLASSES = 10
IMAGE = (16, 15)  # rows x columns of a `pix` digit (240 values of 0..6)


class ImageCNN(nn.Module):
    """Two conv stages over a 1x16x15 digit, then average pooling and a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.BatchNorm2d(16),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )  # -> 16 x 8 x 7
        self.stage2 = nn.Sequential(
            nn.Conv2d(16, 32, 3, padding=1),
            nn.BatchNorm2d(32),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )  # -> 32 x 4 x 3
        self.pool = nn.Flatten(start_dim=2)
        self.classifier = nn.Linear(32, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pool(self.stage2(self.stage1(x))).mean(dim=2))


class ContourCNN(nn.Module):
    """Two 1-D conv stages over the 76 contour coefficients, then a pooled vector."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            nn.Conv1d(1, 16, 5, padding=2),
            nn.BatchNorm1d(16),
            nn.ReLU(),
            nn.MaxPool1d(2),
        )  # -> 16 x 38
        self.stage2 = nn.Sequential(
            nn.Conv1d(16, 32, 3, padding=1),
            nn.BatchNorm1d(32),
            nn.ReLU(),
            nn.MaxPool1d(2),
        )  # -> 32 x 19
        self.pooled = nn.Sequential(nn.AdaptiveAvgPool1d(1), nn.Flatten())  # -> 32
        self.classifier = nn.Linear(32, CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.pooled(self.stage2(self.stage1(x))))


def train(
    model: nn.Module, x: np.ndarray, y: np.ndarray, split: np.ndarray, epochs: int
) -> float:
    """Adam on the training split; the validation accuracy after the last epoch."""
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y)
    rows = np.flatnonzero(split == 0)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    generator = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        order = torch.from_numpy(rows)[torch.randperm(rows.size, generator=generator)]
        for batch in order.split(64):
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(inputs[batch]), targets[batch])
            loss.backward()
            optimiser.step()
    model.eval()
    val = torch.from_numpy(np.flatnonzero(split == 1))
    with torch.no_grad():
        predicted = model(inputs[val]).argmax(1)
    return float((predicted == targets[val]).float().mean())


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        default="build/digits.bank",
        help="the bank (default: build/digits.bank)",
    )
    parser.add_argument(
        "--epochs", type=int, default=15, help="backbone training epochs (default: 15)"
    )
    parser.add_argument(
        "--pool",
        type=int,
        default=8,
        help="L, the positions stored per map; search with the same --L (default: 8)",
    )
    args = parser.parse_args(argv)

    views, labels = read_views()
    split = stratified_split(labels, seed=0)  # 1,200 / 400 / 400, as `bmnas data mfeat`
    train_rows = split == 0
    images = (views["pix"] / 6.0).astype(np.float32).reshape(-1, 1, *IMAGE)
    contour = standardise(views["fou"], train_rows).astype(np.float32)[:, None, :]

    torch.manual_seed(0)
    backbones = {"image": ImageCNN(), "contour": ContourCNN()}
    inputs = {"image": images, "contour": contour}
    with torch_threads(1):
        for name, model in backbones.items():
            started = time.monotonic()
            accuracy = train(model, inputs[name], labels, split, args.epochs)
            print(
                f"{name} backbone: val accuracy {accuracy:.3f} "
                f"({args.epochs} epochs, {time.monotonic() - started:.1f} s)"
            )

        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        result = extract_bank(
            out,
            {
                # layer names as in model.named_modules(); a dict names the features
                "image": Backbone(backbones["image"], ["stage1", "stage2"]),
                "contour": Backbone(
                    backbones["contour"],
                    {"early": "stage1", "late": "stage2", "pooled": "pooled"},
                ),
            },
            samples=inputs,
            labels=labels,
            split=split,
            classes=CLASSES,
            pool=args.pool,
            info={"dataset": "UCI Multiple Features (pix as 16x15 images, fou)"},
            overwrite=True,
        )
    print(f"wrote {out} in {result.seconds:.1f} s (capture: {result.captures})")
    print("next:")
    print(f"  bmnas data {out}")
    print(
        f"  bmnas search --data {out} -o {out.with_suffix('.bmg')} --L {args.pool} --threads 1"
    )
    return out


if __name__ == "__main__":
    main()
