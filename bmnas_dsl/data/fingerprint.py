"""A bank's content hash: which data a run saw, comparable across machines and files.

SHA-256 over what search and training read, in a fixed order: the task and class count,
then each feature's name, dtype, shape and bytes (in the bank's order), the labels and
the split. Provenance (`info`, which holds preparation times) is left out, so the same
data prepared twice, or saved and loaded again, has the same hash. `bmnas data` prints
it; search and training record it (`data_sha256`) in settings.json and the genotype's
meta. Arrays are hashed in chunks, so a memory-mapped bank is never copied whole.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from bmnas_dsl.data.bank import FeatureBank

CHUNK_BYTES = 1 << 24  # hash 16 MiB at a time: bounded memory for any bank size


def content_hash(bank: FeatureBank) -> str:
    """The hex SHA-256 of the bank's content (see the module docstring); for a bank
    directory whose files are as its writer left them, the hash it recorded."""
    if bank.content_sha256 is not None:
        return bank.content_sha256
    digest = hashlib.sha256()
    header = {"task": bank.task, "classes": int(bank.classes)}
    digest.update(json.dumps(header, sort_keys=True).encode("utf-8"))
    arrays = [*bank.features.items(), ("labels", bank.labels), ("split", bank.split)]
    for name, array in arrays:
        _update(digest, name, np.asarray(array))
    return digest.hexdigest()


def short(digest: str) -> str:
    """The first 12 hex digits, as printed next to a data set's name."""
    return digest[:12]


def _update(digest: hashlib._Hash, name: str, array: np.ndarray) -> None:
    # Name, dtype and shape first: equal bytes under another shape are other data.
    description = {"name": name, "dtype": array.dtype.str, "shape": list(array.shape)}
    digest.update(json.dumps(description, sort_keys=True).encode("utf-8"))
    flat = np.ascontiguousarray(array).reshape(-1)
    step = max(1, CHUNK_BYTES // max(1, flat.itemsize))
    for start in range(0, flat.size, step):
        digest.update(flat[start : start + step].tobytes())
