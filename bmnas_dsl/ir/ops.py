"""The op registry (v1): everything bmnas knows about an op, in one entry. Plain data,
no torch.

One entry drives validation (the name, its aliases, arity), `bmnas info` and parameter
counts (`params`), the search's hypernet (it builds `layer` from bmnas_dsl/nn/layers.py
with the constructor arguments `args`), and the code generator (which layers to copy
into a generated module, and the module's constructor call). Adding an op is one entry
here, its layer class in nn/layers.py and, for an op written inline, a `<Op>_call`
macro in templates/ops.j2 (docs/architecture.md). The grammar never changes: op names
are parsed as plain identifiers and looked up here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

# The constructor arguments an op's layer may take: the fusion tensor's C and L, and the
# network's dropout rate.
ARGUMENTS = ("C", "L", "dropout")


@dataclass(frozen=True)
class OpSpec:
    name: str
    arity: int
    params: Callable[[int, int], int]  # (C, L) -> number of trainable parameters
    summary: str
    layer: str  # its class in bmnas_dsl/nn/layers.py
    args: tuple[str, ...] = ()  # the layer's constructor arguments, among ARGUMENTS
    # How a generated module computes it: a submodule of its cell ("module"), an
    # expression of the `<Op>_call` macro in templates/ops.j2 ("inline"), or not at all
    # because pruning removes it ("pruned").
    generated: Literal["module", "inline", "pruned"] = "module"

    def __post_init__(self) -> None:
        unknown = set(self.args) - set(ARGUMENTS)
        if unknown:
            raise ValueError(f"op {self.name}: unknown constructor arguments {unknown}")


_SPECS = (
    OpSpec(
        "Zero",
        2,
        lambda C, L: 0,
        "zeros; removed by the compiler (W002)",
        layer="Zero",
        generated="pruned",
    ),
    OpSpec("Sum", 2, lambda C, L: 0, "x + y", layer="Sum", generated="inline"),
    OpSpec(
        "Attention",
        2,
        lambda C, L: 2 * C * L,
        "scaled dot-product attention over the L positions, query x, key/value y",
        layer="Attention",
        args=("C", "L"),
    ),
    OpSpec(
        "LinearGLU",
        2,
        lambda C, L: 4 * C * C + 6 * C,
        "gated linear unit over cat(x, y)",
        layer="LinearGLU",
        args=("C", "dropout"),
    ),
    OpSpec(
        "ConcatFC",
        2,
        lambda C, L: 2 * C * C + 3 * C,
        "cat(x, y), position-wise fully connected layer, ReLU",
        layer="ConcatFC",
        args=("C", "dropout"),
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
