"""What `bmnas data` says about a feature bank: a JSON summary, or lines for people."""

from __future__ import annotations

from typing import Any

from bmnas_dsl.data.bank import FeatureBank
from bmnas_dsl.data.fingerprint import content_hash


def summary(bank: FeatureBank) -> dict[str, Any]:
    """Task, classes, sizes, features with their shapes, the content hash and the bank's
    free-form info."""
    return {
        "sha256": content_hash(bank),
        "task": bank.task,
        "classes": bank.classes,
        "samples": bank.size,
        # 2: a bank directory (memory-mapped); 1: an .npz or a bank built in memory.
        "format_version": 2 if bank.source is not None else 1,
        "splits": bank.split_sizes(),
        "features": [
            {
                "name": n,
                "shape": list(bank.shape(n)),
                "dtype": str(bank.features[n].dtype),
            }
            for n in bank.features
        ],
        "info": bank.info,
    }


def render_text(spec: str, bank: FeatureBank) -> str:
    """The summary of the bank that `spec` (a `--data` value) named, for people."""
    facts = summary(bank)
    sizes = ", ".join(f"{k} {v}" for k, v in facts["splits"].items())
    lines = [
        f"{spec}: {bank.task}, {bank.classes} classes, {bank.size} samples ({sizes})",
        f"  content sha256 {facts['sha256']}",
    ]
    lines += [f"  {f['name']:<16} {f['shape']}" for f in facts["features"]]
    return "\n".join(lines + backbone_lines(spec, bank))


def backbone_lines(spec: str, bank: FeatureBank) -> list[str]:
    """The test accuracy of each view's backbone, for the registered mfeat data set."""
    # The registered data set, not a bank file that says it is mfeat: `info` is
    # free-form (and untrusted) in a bank file; its backbone reports may be malformed.
    if spec.partition(":")[0] != "mfeat":
        return []
    return [
        f"  backbone {view}: test accuracy {report['test_accuracy']:.3f} "
        f"(val {report['val_accuracy']:.3f}, epoch {report['epoch']})"
        for view, report in bank.info["backbones"].items()
    ]
