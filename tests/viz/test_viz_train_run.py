"""`bmnas viz` of a training run directory (issue 13, item 8): the training loss per epoch
and, with `--holdout val`, the validation metric, from `bmnas train`'s own log; the
final held-out score of metrics.json in the footnote; one-line errors for a malformed
training log."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from conftest import run_bmnas_here
from planted_genotypes import HAND_WRITTEN

from bmnas_dsl.cli.parser import build_parser
from bmnas_dsl.data.bank import save_bank
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.viz.curves import draw_run
from bmnas_dsl.viz.runlog import read_run

SVG_TEXT = "{http://www.w3.org/2000/svg}text"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Two real training runs of one genotype: `--holdout val` (3 epochs) and the
    default `--holdout test` (2 epochs)."""
    root = tmp_path_factory.mktemp("train_runs")
    save_bank(make_planted(size=300, seed=1), root / "planted.npz")
    (root / "hand.bmg").write_text(HAND_WRITTEN)
    common = ("--data", str(root / "planted.npz"), "--threads", "1")
    for name, extra in (
        ("val", ("--holdout", "val", "--epochs", "3")),
        ("test", ("--epochs", "2")),
    ):
        out = str(root / name)
        result = run_bmnas_here(
            "train", str(root / "hand.bmg"), "-o", out, *common, *extra
        )
        assert result.returncode == 0, result.stderr
    return root


def log_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def svg_texts(path: Path) -> str:
    root = ET.fromstring(path.read_bytes())
    return "\n".join("".join(e.itertext()) for e in root.iter(SVG_TEXT))


def test_a_holdout_val_run_draws_its_loss_and_validation_curves(runs, tmp_path):
    run = runs / "val"
    result = run_bmnas_here("viz", str(run), "-o", str(tmp_path / "val.svg"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {tmp_path / 'val.svg'}\n"
    texts = svg_texts(tmp_path / "val.svg")
    log = log_of(run)
    metrics = json.loads((run / "metrics.json").read_text())
    assert "training loss per epoch" in texts
    assert "validation accuracy per epoch" in texts
    last = log[-1]
    assert f"last epoch {last['epoch']}: {last['val_accuracy']:.4f}" in texts
    assert (
        f"validation accuracy {metrics['val']['accuracy']:.4f} after epoch "
        f"{metrics['epochs']}" in texts
    )
    assert "training run val" in texts and "genotype hand.bmg" in texts
    # The curves are the log's numbers, every epoch.
    drawn = read_run(run)
    assert drawn.kind == "training"
    assert drawn.epochs == tuple(r["epoch"] for r in log)
    assert drawn.losses == {"train_loss": tuple(r["train_loss"] for r in log)}
    assert drawn.val_metric == tuple(r["val_accuracy"] for r in log)
    assert drawn.cells == ()
    assert len(draw_run(drawn).axes) == 2


def test_a_holdout_test_run_draws_its_loss_and_names_its_test_score(runs, tmp_path):
    run = runs / "test"
    result = run_bmnas_here("viz", str(run), "-o", str(tmp_path / "test.png"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "test.png").read_bytes().startswith(PNG_SIGNATURE)
    drawn = read_run(run)
    assert drawn.val_metric == ()  # test is scored once, at the end: no curve
    assert len(draw_run(drawn).axes) == 1
    metrics = json.loads((run / "metrics.json").read_text())
    assert drawn.note.startswith(
        f"test accuracy {metrics['test']['accuracy']:.4f} after epoch "
        f"{metrics['epochs']}"
    )
    result = run_bmnas_here("viz", str(run), "-o", str(tmp_path / "test.svg"))
    assert result.returncode == 0, result.stderr
    assert "validation accuracy per epoch" not in svg_texts(tmp_path / "test.svg")


def test_an_unfinished_training_run_still_draws(runs, tmp_path):
    run = tmp_path / "unfinished"
    shutil.copytree(runs / "val", run)
    (run / "metrics.json").unlink()
    result = run_bmnas_here("viz", str(run), "-o", str(tmp_path / "u.svg"))
    assert result.returncode == 0, result.stderr
    assert "not finished: no metrics.json yet" in svg_texts(tmp_path / "u.svg")


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda r: r.pop("train_loss"), ["log.jsonl:2:", "no 'train_loss'"]),
        (lambda r: r.pop("val_accuracy"), ["log.jsonl:2:", "no 'val_accuracy'"]),
        (
            lambda r: r.update(val_accuracy="0.5"),
            ["log.jsonl:2:", "'val_accuracy' is '0.5'"],
        ),
        (
            lambda r: r.update(train_loss=1e300),
            ["log.jsonl:2:", "'train_loss' is 1e+300"],
        ),
    ],
)
def test_a_malformed_training_log_is_one_located_line(runs, tmp_path, edit, words):
    run = tmp_path / "bad"
    shutil.copytree(runs / "val", run)
    log = log_of(run)
    edit(log[1])
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    result = run_bmnas_here("viz", str(run), "-o", str(target))
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("bmnas viz: error: ")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    assert target.read_bytes() == b"precious"


def test_viz_help_describes_every_option():
    parser = build_parser()
    viz = parser._subparsers._group_actions[0].choices["viz"]
    assert "training run" in viz.description
    for action in viz._actions:
        assert action.help, action.dest
    assert "(default: 150)" in viz.format_help()
