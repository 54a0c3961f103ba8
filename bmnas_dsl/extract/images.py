"""The input of `bmnas extract`: one `.npz` file of images with their labels and split.

    images   (N, C, H, W) or (N, H, W) (one channel); uint8 (0..255, scaled to 0..1)
             or floats
    labels   (N,) class indices, or (N, K) 0/1 for multilabel
    split    (N,) 0 train, 1 val, 2 test (or the names "train", "val", "test")

Images are converted one at a time as the extraction reads them (to float32, then
`(x - mean) / std` per channel when given), so only the file's own arrays are held.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from bmnas_dsl.extract.errors import ExtractError

KEYS = ("images", "labels", "split")


class ImageSamples:
    """A map-style dataset of float32 (C, H, W) images from an (N, C, H, W) array."""

    def __init__(
        self,
        images: np.ndarray,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ) -> None:
        self.images = images
        channels = images.shape[1]
        self.scale = 1 / 255 if images.dtype == np.uint8 else 1.0
        self.mean = _per_channel(mean, channels, "mean", 0.0)
        self.std = _per_channel(std, channels, "std", 1.0)
        if np.any(self.std <= 0):
            raise ExtractError(f"std must be positive, not {list(self.std)}")

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> torch.Tensor:
        image = self.images[index].astype(np.float32) * np.float32(self.scale)
        image = (image - self.mean[:, None, None]) / self.std[:, None, None]
        return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))


def read_images(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images (N, C, H, W), labels, split) from the file; ExtractError naming it."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in KEYS if key not in archive.files]
            if missing:
                raise ExtractError(
                    f"{path}: no {', '.join(missing)} array (it has "
                    f"{', '.join(archive.files) or 'none'}; expected {', '.join(KEYS)})"
                )
            images, labels, split = (archive[key] for key in KEYS)
    except FileNotFoundError:
        raise ExtractError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ExtractError(f"{path}: not a readable .npz file ({exc})") from None
    if images.ndim == 3:
        images = images[:, None]
    if images.ndim != 4:
        raise ExtractError(
            f"{path}: images are {list(images.shape)}; expected (N, C, H, W) or "
            "(N, H, W)"
        )
    if images.dtype != np.uint8 and not np.issubdtype(images.dtype, np.floating):
        raise ExtractError(
            f"{path}: images have dtype {images.dtype}; expected uint8 or floats"
        )
    return images, labels, split


def _per_channel(
    values: Sequence[float] | None, channels: int, what: str, default: float
) -> np.ndarray:
    if values is None:
        return np.full(channels, default, dtype=np.float32)
    if len(values) not in (1, channels):
        raise ExtractError(
            f"{what} has {len(values)} values; the images have {channels} channel(s)"
        )
    return np.broadcast_to(np.asarray(values, dtype=np.float32), (channels,)).copy()
