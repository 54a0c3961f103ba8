"""`bmnas report` with any number of runs (issue 13, item 7): one comparison table of
search and training runs, each training run paired with the search run whose kept
genotype it trained; the pipeline form without a search run (a hand-written genotype);
the refusal of a training run paired with a search run whose genotype it did not train;
the pictures the report draws itself."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import run_bmnas_here
from planted_genotypes import HAND_WRITTEN
from reliability_helpers import run_cli_many

from bmnas_dsl.cli.parser import build_parser
from bmnas_dsl.data.bank import save_bank
from bmnas_dsl.data.planted import make_planted
from bmnas_dsl.passes.params import count_params
from bmnas_dsl.passes.pipeline import analyse_file

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def ok(*args: str) -> subprocess.CompletedProcess:
    result = run_bmnas_here(*args)
    assert result.returncode == 0, (args, result.stderr)
    return result


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """Two searches (seeds 0 and 1), the training of each one's genotype, a second
    training of seed 0's genotype with --holdout val, and a hand-written genotype's
    training; the ONNX exports of the seed-0 and hand-written trainings."""
    root = tmp_path_factory.mktemp("compare")
    bank = str(root / "planted.npz")
    save_bank(make_planted(size=300, seed=4), bank)
    (root / "hand.bmg").write_text(HAND_WRITTEN)
    space = ("--C", "8", "--L", "2", "--cells", "1", "--steps", "1", "--rerank", "0")
    quick = ("--epochs", "2", "--threads", "1")
    for seed in ("0", "1"):
        out, run = str(root / f"s{seed}.bmg"), str(root / f"s{seed}.run")
        ok("search", "--data", bank, "-o", out, "--run-dir", run, "--seed", seed,
           *space, *quick)  # fmt: skip
    trainings = {
        "t0": (root / "s0.bmg", ()),
        "t1": (root / "s1.run" / "best.bmg", ("--seed", "3")),
        "tv": (root / "s0.bmg", ("--holdout", "val")),
        "th": (root / "hand.bmg", ()),
    }
    for name, (genotype, extra) in trainings.items():
        ok("train", str(genotype), "--data", bank, "-o", str(root / name), *quick,
           *extra)  # fmt: skip
    for name in ("t0", "th"):
        weights = str(root / name / "weights.safetensors")
        ok("export", str(root / name / "genotype.bmg"), "--weights", weights, "-o",
           str(root / f"{name}.onnx"))  # fmt: skip
    return root


def metrics(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def best(run: Path) -> dict:
    return json.loads((run / "best.json").read_text())


def test_one_table_pairs_each_training_with_its_search(runs, tmp_path):
    names = ["s0.run", "s1.run", "t0", "t1", "tv", "th"]
    result = run_bmnas_here("report", *names, "-o", str(tmp_path / "cmp"), cwd=runs)
    assert result.returncode == 0, result.stderr
    rows = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    # Rows in command-line order: each search with the trainings of its genotype, then
    # the hand-written genotype's training on its own.
    assert [(r["search"], r["training"]) for r in rows] == [
        ("s0.run", "t0"),
        ("s0.run", "tv"),
        ("s1.run", "t1"),
        (None, "th"),
    ]
    by_training = {r["training"]: r for r in rows}
    for name, search, seed in (("t0", "s0.run", 0), ("t1", "s1.run", 1)):
        row, trained, kept = (
            by_training[name],
            metrics(runs / name),
            best(runs / search),
        )
        assert row["run"] == f"{search} \N{RIGHTWARDS ARROW} {name}"
        assert row["search_seed"] == seed
        assert row["training_seed"] == trained["settings"]["seed"]
        assert row["kept_epoch"] == kept["epoch"]
        assert row["val"] == kept["val_metric"] and row["val_from"] == "search"
        assert row["test"] == trained["test"]["accuracy"]
        assert row["parameters"] == trained["parameters"]
        assert row["data"] == trained["data"]
    assert by_training["t1"]["training_seed"] == 3
    # A --holdout val training: its own validation score, no test score.
    tv = by_training["tv"]
    assert tv["val"] == metrics(runs / "tv")["val"]["accuracy"] and tv["test"] is None
    assert tv["val_from"] == "training"
    assert f"{tv['val']:.4f} (training)" in result.stdout  # marked: not the search's
    th = by_training["th"]
    assert th["search_seed"] is None and th["kept_epoch"] is None and th["val"] is None
    assert th["test"] == metrics(runs / "th")["test"]["accuracy"]
    assert th["genotype"] == "c1(a.f3, b.f2){s1=Sum(x,y) out=s1} output=c1"
    # The genotype in one line names the cell's inputs as the genotype file does.
    [cell] = analyse_file(runs / "s1.run" / "best.bmg").tree.models[0].cells
    assert by_training["t1"]["genotype"].startswith(
        f"c1({cell.x.text}, {cell.y.text}){{s1={cell.steps[0].op}("
    )
    # The printed table and the markdown file carry the same rows.
    header, *lines = result.stdout.splitlines()[: len(rows) + 1]
    for column in ("run", "seed (search/train)", "kept epoch", "val accuracy"):
        assert column in header
    assert "test accuracy" in header and "parameters" in header and "genotype" in header
    for line, row in zip(lines, rows, strict=True):
        assert line.startswith(row["run"]) and line.endswith(row["genotype"])
        assert f"{row['parameters']:,}" in line
    markdown = (tmp_path / "cmp" / "comparison.md").read_text().splitlines()
    assert len(markdown) == 2 + len(rows)
    assert all(m.replace("\\|", "").count("|") == 9 for m in markdown)


def test_a_search_run_alone_is_a_row_with_the_front_end_parameter_count(runs):
    result = run_bmnas_here("report", "s1.run", cwd=runs)
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()[1:]
    count = count_params(analyse_file(runs / "s1.run" / "best.bmg").pruned)["total"]
    assert count == metrics(runs / "t1")["parameters"]  # what training counted
    assert f"{count:,}" in line and f"{best(runs / 's1.run')['val_metric']:.4f}" in line
    assert "\N{EM DASH}" in line  # no test score without a training


def test_the_comparison_reads_files_only(runs):
    # No torch: comparing runs is a question about files.
    code = (
        "import sys; from bmnas_dsl.cli.main import main; "
        "status = main(['report', 's0.run', 't0', 'th']); "
        "assert 'torch' not in sys.modules, 'torch imported'; sys.exit(status)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=runs, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def assert_one_line_error(result, *words: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert result.stderr.startswith("bmnas report: error: "), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)


def pipeline(runs: Path, train: str, out: Path, *search: str):
    return run_bmnas_here(
        "report",
        *(("--search-run", search[0]) if search else ()),
        "--train-run",
        train,
        "--onnx",
        f"{Path(train).name}.onnx",
        "-o",
        str(out),
        "--repeats",
        "3",
        cwd=runs,
    )


def test_a_training_paired_with_another_search_is_refused(runs, tmp_path):
    out = tmp_path / "report"
    result = pipeline(runs, "t0", out, "s1.run")
    assert_one_line_error(
        result,
        "t0 trained a genotype other than the one s1.run kept",
        "the networks differ",
        "leave --search-run out",
    )
    assert not out.exists()  # a refused report creates nothing
    # The hand-written genotype was written by no search.
    assert_one_line_error(pipeline(runs, "th", out, "s0.run"), "th trained")
    assert not out.exists()


def test_the_same_network_with_other_provenance_is_refused_too(runs, tmp_path):
    # Only the meta block differs (another seed): a report would credit this training
    # with another search's figures.
    train = tmp_path / "t0"
    shutil.copytree(runs / "t0", train)
    shutil.copy(runs / "t0.onnx", tmp_path / "t0.onnx")
    genotype = train / "genotype.bmg"
    text = genotype.read_text()
    assert "        seed = 0\n" in text
    genotype.write_text(text.replace("        seed = 0\n", "        seed = 7\n"))
    result = pipeline(tmp_path, str(train), tmp_path / "r", str(runs / "s0.run"))
    assert_one_line_error(result, "the same network, other meta entries", "seed = 7")


def test_comments_and_layout_do_not_break_the_pairing(runs, tmp_path):
    train = tmp_path / "t0"
    shutil.copytree(runs / "t0", train)
    shutil.copy(runs / "t0.onnx", tmp_path / "t0.onnx")
    genotype = train / "genotype.bmg"
    edited = "# trained by hand\n" + genotype.read_text().replace("\n\n", "\n\n\n")
    genotype.write_text(edited)
    out = tmp_path / "r"
    result = pipeline(tmp_path, str(train), out, str(runs / "s0.run"))
    assert result.returncode == 0, result.stderr
    assert "search time" in result.stdout
    compared = run_bmnas_here("report", str(runs / "s0.run"), str(train))
    assert compared.returncode == 0, compared.stderr
    assert len(compared.stdout.splitlines()) == 2  # one paired row


def test_the_pipeline_report_of_a_hand_written_genotype(runs, tmp_path):
    out = tmp_path / "report"
    result = pipeline(runs, "th", out)
    assert result.returncode == 0, result.stderr
    assert "search time" not in result.stdout and "(search)" not in result.stdout
    assert "test accuracy" in result.stdout and "ONNX parity" in result.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["search"] is None
    assert summary["test"] == metrics(runs / "th")["test"]
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "architecture.png",
        "architecture.svg",
        "report.md",
        "summary.json",
        "training.png",
    ]
    markdown = (out / "report.md").read_text()
    assert "![training curves](training.png)" in markdown
    assert "curves.png" not in markdown
    assert (out / "training.png").read_bytes().startswith(PNG_SIGNATURE)


def test_the_pipeline_report_draws_its_own_pictures(runs, tmp_path):
    out = tmp_path / "report"
    result = pipeline(runs, "t0", out, "s0.run")
    assert result.returncode == 0, result.stderr
    markdown = (out / "report.md").read_text()
    for name in ("architecture.svg", "curves.png", "training.png"):
        assert f"]({name})" in markdown, name
    for name in ("architecture.png", "curves.png", "training.png"):
        assert (out / name).read_bytes().startswith(PNG_SIGNATURE), name
    # The pictures are `bmnas viz`'s, byte for byte (viz is deterministic), drawn in
    # another interpreter than the report's.
    drawn = run_cli_many(
        [
            ["viz", str(runs / "s0.run"), "-o", str(tmp_path / "curves.png")],
            ["viz", str(runs / "t0"), "-o", str(tmp_path / "training.png")],
            ["viz", str(runs / "t0" / "genotype.bmg"), "-o", str(tmp_path / "a.svg")],
        ]
    )
    assert [r["status"] for r in drawn] == [0, 0, 0], drawn
    for name in ("curves.png", "training.png"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
    assert (tmp_path / "a.svg").read_bytes() == (out / "architecture.svg").read_bytes()


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        ("twice", ["t0: given twice"]),
        ("copied_search", ["is the kept genotype of both"]),
        ("unfinished", ["metrics.json: no such file", "has not finished"]),
        ("not_a_run", ["not a search or training run directory"]),
        ("missing", ["no such directory"]),
        ("broken_metrics", ["metrics.json: expected 'metric'"]),
    ],
)
def test_comparison_errors_are_one_line(runs, tmp_path, setup, words):
    work = tmp_path / "work"
    work.mkdir()
    for name in ("s0.run", "t0"):
        shutil.copytree(runs / name, work / name)
    args = {
        "twice": ["t0", "t0"],
        "copied_search": ["s0.run", "copy.run", "t0"],
        "unfinished": ["t0"],
        "not_a_run": ["empty"],
        "missing": ["nowhere"],
        "broken_metrics": ["t0"],
    }[setup]
    if setup == "copied_search":
        shutil.copytree(work / "s0.run", work / "copy.run")
    elif setup == "unfinished":
        (work / "t0" / "metrics.json").unlink()
    elif setup == "not_a_run":
        (work / "empty").mkdir()
    elif setup == "broken_metrics":
        (work / "t0" / "metrics.json").write_text('{"metric": "accuracy"}')
    result = run_bmnas_here("report", *args, "-o", "out", cwd=work)
    assert_one_line_error(result, *words)
    assert not (work / "out").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ([], ["give run directories to compare"]),
        (["t0", "--train-run", "t0"], ["not both"]),
        (["--train-run", "t0", "-o", "r"], ["a pipeline report needs --onnx"]),
        (["--search-run", "s0.run"], ["a pipeline report needs --train-run"]),
    ],
)
def test_usage_errors_exit_2_with_the_report_usage(runs, args, words):
    result = run_bmnas_here("report", *args, cwd=runs)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("usage: bmnas report")
    for word in words:
        assert word in result.stderr


def test_report_help_describes_every_option():
    parser = build_parser()
    report = parser._subparsers._group_actions[0].choices["report"]
    assert "any number of search and" in report.description
    assert "[--search-run R]" in report.description
    for action in report._actions:
        assert action.help, action.dest
    assert "(default: 200)" in report.format_help()
