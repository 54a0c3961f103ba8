"""Evaluation metrics (semantics.md): accuracy for multiclass tasks; weighted F1 (the
primary metric) and macro F1 for multilabel tasks, at a logit threshold of 0 (p = 0.5).

Conventions follow scikit-learn's defaults with zero_division=0: a class with no true and
no predicted sample has F1 = 0; weighted F1 weighs each class by its support, so classes
absent from the labels do not count; macro F1 averages over all classes.
"""

from __future__ import annotations

import numpy as np


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def f1_per_class(
    logits: np.ndarray, labels: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(F1 of each class, support of each class) for 0/1 labels of shape (N, K)."""
    predicted = logits > 0
    truth = labels.astype(bool)
    tp = np.sum(predicted & truth, axis=0).astype(np.float64)
    false = np.sum(predicted ^ truth, axis=0).astype(np.float64)  # FP + FN
    # F1 = 2TP / (2TP + FP + FN); 0 where the denominator is 0 (zero_division=0).
    denominator = 2 * tp + false
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return f1, np.sum(truth, axis=0).astype(np.float64)


def weighted_f1(logits: np.ndarray, labels: np.ndarray) -> float:
    f1, support = f1_per_class(logits, labels)
    total = support.sum()
    return float((f1 * support).sum() / total) if total else 0.0


def macro_f1(logits: np.ndarray, labels: np.ndarray) -> float:
    f1, _ = f1_per_class(logits, labels)
    return float(f1.mean())


def primary_name(task: str) -> str:
    return "weighted_f1" if task == "multilabel" else "accuracy"


def scores(task: str, logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Every metric of the task, the primary one first."""
    if task == "multilabel":
        return {
            "weighted_f1": weighted_f1(logits, labels),
            "macro_f1": macro_f1(logits, labels),
        }
    return {"accuracy": accuracy(logits, labels)}
