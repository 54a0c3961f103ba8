"""A released genotype -> canonical, self-describing `.bmg` text (`bmnas import`).

The released genotype gives the cells and steps; the preset (or the user's flags) gives
what it does not say: the input list, C, L, classes, task and dropout. The result is
printed by the printer of `bmnas fmt` and the search (lang/printer.py), analysed by the
front end before it is returned (an import never writes a file `bmnas check` refuses),
and its parameter count compared with the released code's.

Decisions (docs/import.md):
- Every feature of the input list is declared, read or not: the released node indices
  count them, and `examples/ntu_config1.bmg` declares them the same way. The meta entry
  `declares_all_features = true` says so on purpose, which keeps W004 quiet, as for a
  searched genotype (passes/validate.py).
- Cell and step counts come from the genotype itself (the released network is built
  from it); `--cells` and `--steps` only assert them. The number of steps concatenated
  is len(inner_concat) unless `--node-multiplier` says otherwise: the released
  evaluation script takes that flag, not the list.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmnas_dsl.errors import ReleasedGenotypeError
from bmnas_dsl.lang import ast
from bmnas_dsl.lang.formatter import format_file
from bmnas_dsl.lang.printer import Genotype, MetaValue, genotype_to_ast
from bmnas_dsl.passes.params import count_params
from bmnas_dsl.passes.pipeline import analyse_text
from bmnas_dsl.passes.validate import DECLARES_ALL_FEATURES
from bmnas_dsl.released.genotype import Structure, check_structure
from bmnas_dsl.released.params import released_params
from bmnas_dsl.released.presets import (
    PRESETS,
    Feature,
    Preset,
    check_features,
    check_header,
)
from bmnas_dsl.released.source import ReleasedSource, load_released, read_input

DEFAULT_NAME = "imported"


@dataclass(frozen=True)
class Settings:
    """What the genotype does not say: from the preset, each value overridable."""

    features: tuple[Feature, ...]
    C: int
    L: int
    classes: int
    task: str
    dropout: float
    preset: Preset | None


@dataclass(frozen=True)
class Imported:
    """An imported genotype: its `.bmg` text and the figures `bmnas import` prints."""

    text: str
    source: ReleasedSource
    structure: Structure
    settings: Settings
    node_multiplier: int
    released_params: int  # as the released log counts them (Fusion Model Params)
    bmnas_params: int  # reshape + cells + head of the imported network (`bmnas info`)

    @property
    def features_read(self) -> int:
        return len(
            {n for c in self.structure.cells for n in (c.x, c.y)}
            & set(range(len(self.settings.features)))
        )


def settings_for(
    preset: str | None = None,
    *,
    features: Sequence[Feature] | None = None,
    C: int | None = None,
    L: int | None = None,
    classes: int | None = None,
    task: str | None = None,
    dropout: float | None = None,
) -> Settings:
    """The preset's values with the given ones in their place; without a preset,
    `features`, C, L and classes are needed (task multiclass, dropout 0 by default)."""
    if preset is not None and preset not in PRESETS:
        raise ReleasedGenotypeError(
            f"unknown preset {preset!r}; the presets are {', '.join(PRESETS)}"
        )
    base = PRESETS.get(preset) if preset is not None else None
    if base is None and (features is None or None in (C, L, classes)):
        raise ReleasedGenotypeError(
            "without a preset, give the input list (--features) and --C, --L and "
            "--classes"
        )
    given = {"C": C, "L": L, "classes": classes, "task": task, "dropout": dropout}
    defaults = (
        {key: getattr(base, key) for key in given}
        if base is not None
        else {"task": "multiclass", "dropout": 0.0}
    )
    values: dict[str, Any] = {
        key: defaults.get(key) if value is None else value
        for key, value in given.items()
    }
    check_header(**values)
    listed = (
        base.features  # type: ignore[union-attr]  (checked above: one of the two)
        if features is None
        else [(name, tuple(shape)) for name, shape in features]
    )
    return Settings(features=check_features(listed), preset=base, **values)


def import_file(
    path: str | Path,
    settings: Settings,
    *,
    name: str = DEFAULT_NAME,
    index: int | None = None,
    cells: int | None = None,
    steps: int | None = None,
    node_multiplier: int | None = None,
) -> Imported:
    """`import_data` of a file's content."""
    return import_data(
        read_input(path),
        str(path),
        settings,
        name=name,
        index=index,
        cells=cells,
        steps=steps,
        node_multiplier=node_multiplier,
    )


def import_data(
    data: bytes,
    source: str,
    settings: Settings,
    *,
    name: str = DEFAULT_NAME,
    index: int | None = None,
    cells: int | None = None,
    steps: int | None = None,
    node_multiplier: int | None = None,
) -> Imported:
    """The released genotype in `data` (a pickle or text, read from `source`) as
    canonical `.bmg` text that `bmnas check` accepts; ReleasedGenotypeError, located,
    at the first problem. `cells` and `steps`, when given, must be the genotype's;
    `node_multiplier` replaces len(inner_concat)."""
    released = load_released(data, source, index)
    structure = check_structure(
        released.genotype, len(settings.features), released.where
    )
    _assert_count(source, "cell", len(structure.cells), cells, "--cells")
    _assert_count(source, "step", structure.steps, steps, "--steps", " per cell")
    multiplier = structure.node_multiplier
    if node_multiplier is not None:
        if not 1 <= node_multiplier <= structure.steps:
            raise ReleasedGenotypeError(
                f"--node-multiplier {node_multiplier} is not in 1..{structure.steps} "
                "(the genotype's steps per cell)"
            )
        multiplier = node_multiplier
    count = released_params(
        structure,
        settings.features,
        C=settings.C,
        L=settings.L,
        node_multiplier=multiplier,
    )
    meta = _meta(released, structure, settings, multiplier, count, source)
    text = _bmg(structure, settings, multiplier, meta, name)
    result = analyse_text(text, f"{name}.bmg")
    errors = [d for d in result.diagnostics if d.is_error]
    if errors or result.pruned is None:
        # Not reached for a structure that passed the checks; said plainly if it is.
        first = errors[0].message if errors else "no network"
        raise ReleasedGenotypeError(
            f"{source}: the imported genotype does not pass bmnas check: {first}"
        )
    params = count_params(result.pruned)
    return Imported(
        text=text,
        source=released,
        structure=structure,
        settings=settings,
        node_multiplier=multiplier,
        released_params=count,
        bmnas_params=params["reshape"] + params["cells"] + params["head"],
    )


def _assert_count(
    source: str, what: str, actual: int, given: int | None, flag: str, suffix: str = ""
) -> None:
    if given is not None and given != actual:
        raise ReleasedGenotypeError(
            f"{source}: the genotype has {actual} {what}(s){suffix}, not {flag} {given}"
        )


def _meta(
    released: ReleasedSource,
    structure: Structure,
    settings: Settings,
    node_multiplier: int,
    count: int,
    source: str,
) -> dict[str, MetaValue]:
    """Where the genotype came from, and the released flags that rebuild its network
    (spelled as the released scripts' arguments)."""
    meta: dict[str, MetaValue] = {
        "source": "released BM-NAS code",
        "imported_from": Path(source).name or source,
        "imported_format": released.kind,
    }
    if released.line is not None:
        meta["imported_line"] = released.line
    if settings.preset is not None:
        meta["preset"] = settings.preset.name
        meta["dataset"] = settings.preset.dataset
    meta |= {
        "released_C": settings.C,
        "released_L": settings.L,
        "released_num_input_nodes": len(settings.features),
        "released_steps": len(structure.cells),
        "released_multiplier": structure.output,
        "released_node_steps": structure.steps,
        "released_node_multiplier": node_multiplier,
        "released_num_outputs": settings.classes,
        "released_drpt": float(settings.dropout),
        "released_params": count,
        "released_genotype": structure.printed,
        DECLARES_ALL_FEATURES: True,
    }
    return meta


def _bmg(
    structure: Structure,
    settings: Settings,
    node_multiplier: int,
    meta: dict[str, MetaValue],
    name: str,
) -> str:
    """The canonical text: cells c1.., steps s1.., `output` the last len(concat)
    cells (the printer's default is every cell; the released head reads only those)."""
    try:
        tree = genotype_to_ast(
            Genotype(structure.cells),
            model_name=name,
            features=settings.features,
            C=settings.C,
            L=settings.L,
            classes=settings.classes,
            task=settings.task,
            dropout=float(settings.dropout),
            node_multiplier=node_multiplier,
            meta=meta,
        )
    except ValueError as exc:  # a name the .bmg text cannot carry
        raise ReleasedGenotypeError(str(exc)) from None
    count = len(structure.cells)
    output = ast.Output(
        tuple(ast.Ref((f"c{k + 1}",)) for k in range(count - structure.output, count))
    )
    model = dataclasses.replace(tree.models[0], outputs=(output,))
    return format_file(dataclasses.replace(tree, models=(model,)))
