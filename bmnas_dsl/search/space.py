"""The search space: every knob of shared/spec/semantics.md, with its default."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from bmnas_dsl.ir.ops import OPS
from bmnas_dsl.runs import checks

# The paper's op pool is every op of the registry, in its order.
PAPER_OPS = tuple(OPS)
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

    @property
    def out_steps(self) -> int:
        return self.node_multiplier or self.steps

    def problems(self) -> list[str]:
        """Every knob that cannot work, each naming its flag (empty when fine)."""
        found = checks.collect(
            checks.integer("--C", self.C, 1, 65_536),
            checks.integer("--L", self.L, 1, 65_536),
            checks.integer("--cells", self.cells, 1, 1_000),
            checks.integer("--steps", self.steps, 1, 1_000),
            checks.choice("--cell-inputs", self.cell_inputs, ("any", "features")),
            checks.choice("--mixing", self.mixing, ("same", "separate")),
            checks.number("--dropout", self.dropout, 0, below=1),
        )
        if self.node_multiplier is not None:
            steps = self.steps if type(self.steps) is int else 1_000
            found += checks.collect(
                checks.integer("--node-multiplier", self.node_multiplier, 1, steps)
            )
        unknown = [op for op in self.ops if op not in PAPER_OPS]
        if unknown or len(set(self.ops)) != len(self.ops):
            found.append(
                f"--ops takes distinct ops among {', '.join(PAPER_OPS)}, not "
                f"{' '.join(map(str, self.ops))}"
            )
        elif not set(self.ops) - {"Zero"}:
            found.append("--ops needs an op other than Zero")
        features = len(self.features)
        cells = self.cells if type(self.cells) is int else 0
        if self.cell_inputs == "features" and cells > features - 1:
            found.append(
                f"--cell-inputs features can place at most {features - 1} cells "
                f"with {features} features (each cell needs an unused feature)"
            )
        return found

    def predecessors(self, cell: int) -> int:
        """How many nodes of S cell `cell` (0-based) may take as an input."""
        features = len(self.features)
        return features if self.cell_inputs == "features" else features + cell

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["features"] = [[name, list(shape)] for name, shape in self.features]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SearchSpace:
        data = dict(data)
        data["features"] = tuple(
            (name, tuple(shape)) for name, shape in data["features"]
        )
        data["ops"] = tuple(data["ops"])
        return cls(**data)
