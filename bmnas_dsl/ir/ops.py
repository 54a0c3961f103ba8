"""The op registry (v1): names, aliases, arity and parameter counts. Plain data, no torch.

Adding an op is one entry here plus its code template; the grammar never changes, because
op names are parsed as plain identifiers and looked up here by validation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class OpSpec:
    name: str
    arity: int
    params: Callable[[int, int], int]  # (C, L) -> number of trainable parameters
    summary: str


_SPECS = (
    OpSpec("Zero", 2, lambda C, L: 0, "zeros; removed by the compiler (W002)"),
    OpSpec("Sum", 2, lambda C, L: 0, "x + y"),
    OpSpec(
        "Attention",
        2,
        lambda C, L: 2 * C * L,
        "scaled dot-product attention over the L positions, query x, key/value y",
    ),
    OpSpec(
        "LinearGLU",
        2,
        lambda C, L: 4 * C * C + 6 * C,
        "gated linear unit over cat(x, y)",
    ),
    OpSpec(
        "ConcatFC",
        2,
        lambda C, L: 2 * C * C + 3 * C,
        "cat(x, y), position-wise fully connected layer, ReLU",
    ),
)

OPS: dict[str, OpSpec] = {spec.name: spec for spec in _SPECS}

# Other spellings accepted in .bmg files, mapped to the registry name.
ALIASES: dict[str, str] = {"ScaleDotAttn": "Attention"}


def resolve_op(name: str) -> OpSpec | None:
    """The op a name in a .bmg file stands for, or None when it is unknown."""
    return OPS.get(ALIASES.get(name, name))


def known_op_names() -> list[str]:
    return [*OPS, *ALIASES]
