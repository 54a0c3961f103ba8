"""The pictures of a pipeline report, drawn by `bmnas report` itself with the code of
`bmnas viz`: the trained genotype (SVG and PNG), the search run's curves and weights,
and the training run's curves."""

from __future__ import annotations

from pathlib import Path

import networkx as nx

from bmnas_dsl.viz.picture import genotype_picture, run_picture

ARCHITECTURE_SVG = "architecture.svg"
ARCHITECTURE_PNG = "architecture.png"
SEARCH_CURVES = "curves.png"  # the name `make run` used before report drew them
TRAINING_CURVES = "training.png"
DPI = 150  # `bmnas viz`'s default


def draw_pictures(
    pruned: nx.MultiDiGraph,
    genotype: Path,
    train_run: Path,
    search_run: Path | None,
) -> dict[str, bytes]:
    """File name -> bytes of every picture, drawn in memory (nothing is written until
    all of them are drawn); the search curves only with a search run."""
    pictures = {
        ARCHITECTURE_SVG: genotype_picture(pruned, genotype, "svg", DPI),
        ARCHITECTURE_PNG: genotype_picture(pruned, genotype, "png", DPI),
    }
    if search_run is not None:
        pictures[SEARCH_CURVES] = run_picture(search_run, "png", DPI)
    pictures[TRAINING_CURVES] = run_picture(train_run, "png", DPI)
    return pictures
