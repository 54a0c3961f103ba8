"""`planted`: a generated bank whose label depends only on the interaction of two features.

Modalities `a` and `b` have features f1..f4. Hidden codes k_a and k_b are uniform on
0..3 and independent; the label is (k_a + k_b) mod 4. `a.f3` shows k_a and `b.f2` shows
k_b as clean patterns, so together they give the label, while either alone carries no
information about it (the other code is uniform and independent). `a.f2` and `b.f3` show
the same codes under heavy noise (weaker copies of the useful inputs); f1 and f4 are pure
noise. A search that works must pick a cell whose inputs are a.f3 and b.f2.
"""

from __future__ import annotations

import numpy as np

from bmnas_dsl.data.bank import FeatureBank

CLASSES = 4
SHAPES = {"f1": (8, 6), "f2": (16, 6), "f3": (16, 6), "f4": (32,)}
SIGNAL = {("a", "f3"): 1.0, ("b", "f2"): 1.0, ("a", "f2"): 0.25, ("b", "f3"): 0.25}


def make_planted(size: int = 3000, seed: int = 0) -> FeatureBank:
    rng = np.random.default_rng(seed)
    codes = {"a": rng.integers(0, CLASSES, size), "b": rng.integers(0, CLASSES, size)}
    labels = (codes["a"] + codes["b"]) % CLASSES
    features = {}
    for modality in ("a", "b"):
        for name, shape in SHAPES.items():
            noise = rng.standard_normal((size, *shape))
            strength = SIGNAL.get((modality, name), 0.0)
            if strength:
                patterns = rng.standard_normal((CLASSES, *shape))
                noise = strength * patterns[codes[modality]] + 0.5 * noise / strength
            features[f"{modality}.{name}"] = noise.astype(np.float32)
    split = np.zeros(size, dtype=np.int8)
    order = rng.permutation(size)
    split[order[int(0.6 * size) : int(0.8 * size)]] = 1
    split[order[int(0.8 * size) :]] = 2
    return FeatureBank(
        features=features,
        labels=labels.astype(np.int64),
        split=split,
        task="multiclass",
        classes=CLASSES,
        info={
            "dataset": "planted",
            "seed": seed,
            "size": size,
            "relevant": ["a.f3", "b.f2"],
            "rule": "(k_a + k_b) mod 4",
        },
    )
