"""The plot of a search run: validation metric, losses and the architecture weights'
distance from uniform per epoch, and the architecture weights (alpha, beta, gamma) of
the kept epoch, every cell's as labelled heatmaps. The plot of a training run: its loss
and, with `--holdout val`, its validation metric per epoch."""

from __future__ import annotations

import math

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from bmnas_dsl.viz.draw import RC, UPPER
from bmnas_dsl.viz.runlog import CellWeights, Run

ALPHA, BETA, GAMMA = (
    "\N{GREEK SMALL LETTER ALPHA}",
    "\N{GREEK SMALL LETTER BETA}",
    "\N{GREEK SMALL LETTER GAMMA}",
)
LOSS_STYLE = {  # curve -> (label, colour)
    "train_loss": ("train loss (weights)", "#1c7ed6"),
    "arch_loss": ("architecture loss", "#f08c00"),
    "val_loss": ("validation loss", "#c2255c"),
}


def draw_run(run: Run) -> Figure:
    """One figure: curves on top, then one row of heatmaps per cell (a training run:
    its curves only)."""
    if run.kind == "training":
        return draw_training(run)
    rows = [max(len(c.alpha), len(c.beta), len(c.gamma), 2) for c in run.cells]
    heights = [2.8] + [0.36 * r + 1.5 for r in rows]
    widest = max(
        [10.0]
        + [
            0.62 * (len(c.predecessors) + _inner_width(c) + len(c.ops)) + 3.6
            for c in run.cells
        ]
    )
    with matplotlib.rc_context(RC):
        figure = Figure(figsize=(widest, sum(heights) + 0.5), layout="constrained")
        figure.suptitle(run.title, fontsize=12, fontweight="bold", x=0.01, ha="left")
        grid = figure.add_gridspec(len(heights), 1, height_ratios=heights)
        top = grid[0].subgridspec(1, 3 if run.convergence else 2)
        _metric(figure.add_subplot(top[0]), run)
        _losses(figure.add_subplot(top[1]), run)
        if run.convergence:
            _convergence(figure.add_subplot(top[2]), run)
        if run.cells:  # a footnote that constrained layout makes room for
            figure.supxlabel(
                f"{ALPHA}, {BETA}, {GAMMA} of the kept epoch ({run.epochs[run.best]}, "
                f"the genotype written; the run has {len(run.epochs)} epochs), "
                "softmaxed as logged. Colours are scaled per panel; bold: the largest "
                f"of each row (two for {ALPHA} and {BETA}, one for {GAMMA}), roughly "
                "what derivation keeps.",
                x=0.01,
                ha="left",
                fontsize=8,
                color="#495057",
            )
        for row, cell in enumerate(run.cells, 1):
            widths = [len(cell.predecessors) + 1.5, _inner_width(cell) + 1.5]
            widths.append(len(cell.ops) + 1.5)
            panels = grid[row].subgridspec(1, 3, width_ratios=widths)
            _weights(cell, [figure.add_subplot(panels[i]) for i in range(3)])
    return figure


def draw_training(run: Run) -> Figure:
    """The loss per epoch and, when the run scored validation each epoch, the metric;
    the footnote gives the final held-out score (metrics.json)."""
    panels = 2 if run.val_metric else 1
    with matplotlib.rc_context(RC):
        # Wide enough for the footnote even with one panel.
        figure = Figure(figsize=(5.0 * panels + 3.0, 3.6), layout="constrained")
        figure.suptitle(run.title, fontsize=12, fontweight="bold", x=0.01, ha="left")
        grid = figure.add_gridspec(1, panels)
        _losses(figure.add_subplot(grid[0]), run)
        if run.val_metric:
            _last_epoch_metric(figure.add_subplot(grid[1]), run)
        figure.supxlabel(
            (run.note if run.note else "not finished: no metrics.json yet")
            + "; training keeps the weights of its last epoch.",
            x=0.01,
            ha="left",
            fontsize=8,
            color="#495057",
        )
    return figure


def _last_epoch_metric(axes: Axes, run: Run) -> None:
    """A training run's validation metric, its last (kept) epoch labelled: training
    selects no epoch, so there is no best-epoch star."""
    axes.plot(run.epochs, run.val_metric, marker="o", markersize=3.5, color=UPPER)
    epoch, value = run.epochs[-1], run.val_metric[-1]
    axes.annotate(
        f"last epoch {epoch}: {value:.4f}",
        (epoch, value),
        xytext=(-10, -2),
        textcoords="offset points",
        ha="right",
        va="top",
        fontsize=8.5,
        color="#d9480f",
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
    )
    axes.margins(x=0.04, y=0.18)
    axes.set_title(f"validation {run.metric} per epoch", fontsize=10)
    axes.set_xlabel("epoch")
    axes.set_ylabel(run.metric)
    _integer_epochs(axes, run)


def _metric(axes: Axes, run: Run) -> None:
    axes.plot(run.epochs, run.val_metric, marker="o", markersize=3.5, color=UPPER)
    best = run.best
    epoch, value = run.epochs[best], run.val_metric[best]
    axes.axvline(epoch, color="#adb5bd", linewidth=0.8, linestyle="--", zorder=0)
    axes.plot([epoch], [value], marker="*", markersize=13, color="#f08c00", zorder=3)
    left = best < len(run.epochs) / 2  # write the label on the side with more room
    axes.annotate(
        f"best: epoch {epoch}, {value:.4f}",
        (epoch, value),
        xytext=(10 if left else -10, -2),
        textcoords="offset points",
        ha="left" if left else "right",
        va="top",
        fontsize=8.5,
        color="#d9480f",
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
    )
    axes.margins(x=0.04, y=0.18)  # room for the star and its label
    axes.set_title(f"validation {run.metric} per epoch", fontsize=10)
    axes.set_xlabel("epoch")
    axes.set_ylabel(run.metric)
    _integer_epochs(axes, run)


def _losses(axes: Axes, run: Run) -> None:
    for key, values in run.losses.items():
        label, colour = LOSS_STYLE[key]
        if run.kind == "training":  # one loss: that of the network trained
            label = "training loss"
        axes.plot(
            run.epochs,
            values,
            label=label,
            color=colour,
            linewidth=1.4,
            marker="o",
            markersize=2.5,
        )
    if run.kind != "training":  # the kept epoch; a training run keeps its last
        axes.axvline(
            run.epochs[run.best], color="#adb5bd", linewidth=0.8, linestyle="--"
        )
    title = "training loss per epoch" if run.kind == "training" else "losses per epoch"
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("epoch")
    if run.losses:
        axes.legend(fontsize=8, frameon=False)
    _integer_epochs(axes, run)


CONVERGENCE_STYLE = {"alpha": (ALPHA, "#2f9e44"), "beta": (BETA, "#7048e8")}
CONVERGENCE_STYLE["gamma"] = (GAMMA, "#e8590c")


def _convergence(axes: Axes, run: Run) -> None:
    for group, values in run.convergence.items():
        label, colour = CONVERGENCE_STYLE[group]
        axes.plot(run.epochs, values, label=label, color=colour, linewidth=1.4)
    axes.axhline(1.0, color="#adb5bd", linewidth=0.8, linestyle=":")
    axes.axvline(run.epochs[run.best], color="#adb5bd", linewidth=0.8, linestyle="--")
    axes.set_title("architecture weights: entropy / uniform", fontsize=10)
    axes.set_xlabel("epoch")
    axes.set_ylabel("normalised entropy (1 = uniform)")
    axes.legend(fontsize=8, frameon=False)
    _integer_epochs(axes, run)


def _integer_epochs(axes: Axes, run: Run) -> None:
    axes.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[attr-defined]
    axes.grid(alpha=0.25)
    if len(run.epochs) == 1:
        axes.set_xlim(run.epochs[0] - 1, run.epochs[0] + 1)


def _inner_width(cell: CellWeights) -> int:
    """Inner nodes the last step may read: x, y and every earlier step."""
    return max(len(values) for _, values in cell.beta)


def _weights(cell: CellWeights, axes: list[Axes]) -> None:
    inner = ["x", "y"] + [f"s{i + 1}" for i in range(_inner_width(cell) - 2)]
    panels = [
        (
            cell.alpha,
            cell.predecessors,
            f"{ALPHA}: p(identity) per predecessor",
            2,
        ),
        (
            cell.beta,
            tuple(inner),
            f"{BETA}: p(identity) per inner input",
            2,
        ),
        (cell.gamma, cell.ops, f"{GAMMA}: p(op) per step", 1),
    ]
    for ax, (rows, columns, title, chosen) in zip(axes, panels, strict=True):
        _heatmap(ax, rows, columns, chosen)
        ax.set_title(f"cell {cell.name} · {title}", fontsize=9.5)


def _heatmap(
    axes: Axes,
    rows: tuple[tuple[str, tuple[float, ...]], ...],
    columns: tuple[str, ...],
    chosen: int,
) -> None:
    """Values annotated, the `chosen` largest of each row in bold (what derivation
    roughly keeps); beta rows are shorter for early steps, the gap shown blank."""
    width = len(columns)
    grid = [list(v) + [math.nan] * (width - len(v)) for _, v in rows]
    finite = [v for row in grid for v in row if not math.isnan(v)]
    low, high = min(finite), max(finite)
    if high - low < 1e-9:
        low, high = low - 0.5, high + 0.5
    axes.imshow(grid, cmap="Blues", vmin=low, vmax=high, aspect="auto")
    for r, row in enumerate(grid):
        top = sorted(
            (i for i, v in enumerate(row) if not math.isnan(v)), key=lambda i: -row[i]
        )[:chosen]
        for c, value in enumerate(row):
            if math.isnan(value):
                continue
            dark = (value - low) / (high - low) > 0.6
            axes.text(
                c,
                r,
                f"{value:.3f}",
                ha="center",
                va="center",
                fontsize=7.5,
                color="white" if dark else "#212529",
                fontweight="bold" if c in top else "normal",
            )
    axes.set_xticks(range(width), columns, fontsize=8)
    axes.set_yticks(range(len(rows)), [name for name, _ in rows], fontsize=8)
    if width > 4 or max(len(c) for c in columns) > 5:
        axes.tick_params(axis="x", labelrotation=40)
        for label in axes.get_xticklabels():
            label.set_horizontalalignment("right")
            label.set_rotation_mode("anchor")
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
