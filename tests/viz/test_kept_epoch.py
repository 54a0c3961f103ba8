"""The search-run picture shows the kept epoch's architecture weights (not the last
epoch's) and the weights' distance from uniform per epoch (bmnas_dsl.viz.runlog)."""

from __future__ import annotations

import json

from bmnas_dsl.runs.log import Best, write_best
from bmnas_dsl.viz.curves import draw_run
from bmnas_dsl.viz.runlog import read_run


def record(epoch: int, metric: float, p: float) -> dict:
    return {
        "epoch": epoch,
        "val_metric": metric,
        "alpha": [[p, round(1 - p, 6)]],
        "beta": [[[0.5, 0.5]]],
        "gamma": [[[p, round(1 - p, 6)]]],
        "convergence": {
            g: {"entropy": 1 - epoch / 10, "top": 1 + epoch / 10}
            for g in ("alpha", "beta", "gamma")
        },
    }


def test_heatmaps_are_the_kept_epochs_and_convergence_is_read(tmp_path):
    records = [record(1, 0.5, 0.6), record(2, 0.9, 0.7), record(3, 0.8, 0.95)]
    (tmp_path / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    write_best(tmp_path, Best(2, 0.9))
    run = read_run(tmp_path)
    assert run.epochs[run.best] == 2
    assert run.cells[0].alpha == (("x, y", (0.7, 0.3)),)  # epoch 2, not epoch 3
    assert run.convergence["gamma"] == (0.9, 0.8, 0.7)
    figure = draw_run(run)
    texts = [t.get_text() for t in figure.findobj(lambda a: hasattr(a, "get_text"))]
    assert any("of the kept epoch (2," in t for t in texts)
    assert any("entropy / uniform" in t for t in texts)


def test_a_log_without_convergence_draws_two_panels(tmp_path):
    plain = [{k: v for k, v in record(1, 0.5, 0.6).items() if k != "convergence"}]
    (tmp_path / "log.jsonl").write_text(json.dumps(plain[0]) + "\n")
    run = read_run(tmp_path)
    assert run.convergence == {}
    assert len(draw_run(run).axes) == 2 + 3  # metric, losses; one row of heatmaps
