"""`bmnas report RUN...`: one table comparing any number of search and training runs.

Each training run is paired with the search run, among those given, whose kept genotype
it trained (the same genotype: `genotypes.canonical`); a training run of a genotype no
given search wrote (a hand-written one) is a row of its own, and so is a search run that
no given training run trained. Rows follow the order of the command line. docs/report.md
describes the columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bmnas_dsl.errors import ReportError
from bmnas_dsl.report.genotypes import canonical, one_line, parameters
from bmnas_dsl.report.rundirs import SearchRun, TrainingRun, read_run

MISSING = "\N{EM DASH}"
ARROW = " \N{RIGHTWARDS ARROW} "


@dataclass(frozen=True)
class Row:
    """One line of the comparison: a search, a training, or a search and the training
    of its genotype."""

    search: str | None  # the search run directory, as given
    training: str | None  # the training run directory, as given
    search_seed: int | None
    training_seed: int | None
    data: str
    kept_epoch: int | None  # the search's kept epoch
    metric: str  # accuracy or weighted_f1
    # The validation metric: a `--holdout val` training's final one, else the search's
    # at its kept epoch; `val_from` says which ("training" or "search").
    val: float | None
    val_from: str | None
    test: float | None  # the training's test metric (None for --holdout val)
    parameters: int
    genotype: str  # one line

    @property
    def run(self) -> str:
        return ARROW.join(name for name in (self.search, self.training) if name)


def pair_runs(
    runs: Sequence[SearchRun | TrainingRun],
) -> list[tuple[SearchRun | None, TrainingRun | None]]:
    """(search, training) per row, in command-line order: a search run's row comes
    where the search run is given, with each training of its genotype (or alone)."""
    by_genotype: dict[str, list[SearchRun]] = {}
    for run in runs:
        if isinstance(run, SearchRun):
            by_genotype.setdefault(canonical(run.genotype), []).append(run)
    trained: dict[Path, list[TrainingRun]] = {}
    alone: set[Path] = set()
    for run in runs:
        if not isinstance(run, TrainingRun):
            continue
        found = by_genotype.get(canonical(run.genotype), [])
        if len(found) > 1:
            names = " and ".join(str(s.path) for s in found)
            raise ReportError(
                f"{run.path}: its genotype is the kept genotype of both {names} "
                "(copies of one run?); give only one of them"
            )
        if found:
            trained.setdefault(found[0].path, []).append(run)
        else:
            alone.add(run.path)
    rows: list[tuple[SearchRun | None, TrainingRun | None]] = []
    for run in runs:
        if isinstance(run, SearchRun):
            rows += [(run, t) for t in trained.get(run.path, [])] or [(run, None)]
        elif run.path in alone:
            rows.append((None, run))
    return rows


def make_row(search: SearchRun | None, training: TrainingRun | None) -> Row:
    if training is not None:
        genotype, data = training.genotype, training.data
        if (
            search is not None
            and search.data_sha256 != training.data_sha256
            and None not in (search.data_sha256, training.data_sha256)
        ):
            data = f"{training.data} (search: {search.data})"
        metric, count = training.metric, training.parameters
        held_out = training.scores[training.metric]
        test = held_out if training.holdout == "test" else None
        val = held_out if training.holdout == "val" else None
    else:
        assert search is not None
        genotype, data, metric = search.genotype, search.data, search.metric
        count, test, val = parameters(search.genotype), None, None
    val_from = "training" if val is not None else None
    if val is None and search is not None:
        val, val_from = search.val_metric, "search"
    return Row(
        search=str(search.path) if search else None,
        training=str(training.path) if training else None,
        search_seed=search.seed if search else None,
        training_seed=training.seed if training else None,
        data=data,
        kept_epoch=search.kept_epoch if search else None,
        metric=metric,
        val=val,
        val_from=val_from,
        test=test,
        parameters=count,
        genotype=one_line(genotype),
    )


def compare_runs(paths: Sequence[str | Path]) -> list[Row]:
    """The comparison rows of the run directories `paths` (each given once)."""
    seen: dict[Path, str] = {}
    for path in paths:
        key = Path(path).resolve()
        if key in seen:
            raise ReportError(f"{path}: given twice (as {seen[key]} too)")
        seen[key] = str(path)
    runs = [read_run(Path(path)) for path in paths]
    return [make_row(search, training) for search, training in pair_runs(runs)]


def _number(value: float | None, metric: str, named: bool) -> str:
    if value is None:
        return MISSING
    return f"{value:.4f}" + (f" {metric}" if named else "")


def _seed(value: int | None) -> str:
    return MISSING if value is None else str(value)


def table_cells(rows: Sequence[Row]) -> list[list[str]]:
    """The header and one list of cells per row. When every row has the same metric
    it names the columns; otherwise each value names its own."""
    metrics = {row.metric for row in rows}
    same = len(metrics) == 1
    label = f" {next(iter(metrics)).replace('_', ' ')}" if same else ""
    header = [
        "run",
        "seed (search/train)",
        "data",
        "kept epoch",
        f"val{label}",
        f"test{label}",
        "parameters",
        "genotype",
    ]
    lines = [header]
    for row in rows:
        name = row.metric.replace("_", " ")
        lines.append(
            [
                row.run,
                f"{_seed(row.search_seed)}/{_seed(row.training_seed)}",
                row.data,
                MISSING if row.kept_epoch is None else str(row.kept_epoch),
                # A training's own validation score is marked: the kept epoch
                # beside it is the search's.
                _number(row.val, name, not same)
                + (" (training)" if row.val_from == "training" else ""),
                _number(row.test, name, not same),
                f"{row.parameters:,}",
                row.genotype,
            ]
        )
    return lines


def comparison_text(rows: Sequence[Row]) -> str:
    """Aligned columns for a terminal (the last column, the genotype, is not padded)."""
    lines = table_cells(rows)
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]) - 1)]
    return (
        "\n".join(
            "  ".join(
                [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
                + [line[-1]]
            ).rstrip()
            for line in lines
        )
        + "\n"
    )


def comparison_markdown(rows: Sequence[Row]) -> str:
    """The same table in markdown; a `|` inside a cell is escaped."""

    def cells(line: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in line) + " |"

    header, *body = table_cells(rows)
    numeric = {3, 4, 5, 6}  # right-aligned columns
    rule = "|" + "|".join("---:" if i in numeric else "---" for i in range(len(header)))
    return "\n".join([cells(header), rule + "|", *map(cells, body)]) + "\n"


def comparison_json(rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [{"run": row.run, **asdict(row)} for row in rows]
