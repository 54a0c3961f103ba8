"""The search space: every knob of shared/spec/semantics.md, with its default."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

PAPER_OPS = ("Zero", "Sum", "Attention", "LinearGLU", "ConcatFC")
RELEASED_OPS = (
    "Sum",
    "Attention",
    "LinearGLU",
    "ConcatFC",
)  # the released code: no Zero


@dataclass(frozen=True)
class SearchSpace:
    """What the hypernet can express. Features are (qualified name, shape) in S order."""

    features: tuple[tuple[str, tuple[int, ...]], ...]
    classes: int
    task: Literal["multiclass", "multilabel"] = "multiclass"
    C: int = 32
    L: int = 8
    cells: int = 2
    steps: int = 2
    node_multiplier: int | None = None  # `out` = the last k steps; default all steps
    ops: tuple[str, ...] = PAPER_OPS
    cell_inputs: Literal["any", "features"] = "any"
    mixing: Literal["same", "separate"] = "same"
    dropout: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def out_steps(self) -> int:
        return self.node_multiplier or self.steps

    def predecessors(self, cell: int) -> int:
        """How many nodes of S cell `cell` (0-based) may take as an input."""
        features = len(self.features)
        return features if self.cell_inputs == "features" else features + cell

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = [[name, list(shape)] for name, shape in self.features]
        data.pop("extra")
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchSpace:
        data = dict(data)
        data["features"] = tuple(
            (name, tuple(shape)) for name, shape in data["features"]
        )
        data["ops"] = tuple(data["ops"])
        return cls(**data)
