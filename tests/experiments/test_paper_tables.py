"""The ablation transformations (bmnas_dsl/experiments/ablation.py) and the paper-tables driver
(benchmarks/paper_tables.py) end to end on a tiny budget, cache reuse included."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest
from conftest import REPO

from bmnas_dsl.experiments import ablation
from bmnas_dsl.lang.parser import parse
from bmnas_dsl.passes.pipeline import analyse_text

# Two modalities with different feature counts; c2 reads the earlier cell c1.
GENOTYPE = """\
bmg 1

model searched {
    dims C = 8, L = 4
    classes 3

    meta {
        seed = 0
    }

    modality a {
        f1 : [4, 6]
        f2 : [8, 3]
        f3 : [6]
    }

    modality b {
        g1 : [4, 5]
        g2 : [5]
    }

    cell c1 (x = a.f2, y = a.f3) {
        s1 = Sum(x, y)
        s2 = Attention(s1, y)
        out = s1, s2
    }

    cell c2 (x = b.g1, y = c1) {
        s1 = LinearGLU(x, y)
        out = s1
    }

    output c1, c2
}
"""

FEATURES = ["a.f1", "a.f2", "a.f3", "b.g1", "b.g2"]


def model(text: str):
    assert analyse_text(text).ok, text
    return parse(text).models[0]


def bodies(text: str) -> list[list[tuple[str, str, tuple[str, ...]]]]:
    return [
        [(s.name, s.op, tuple(a.text for a in s.args)) for s in cell.steps]
        for cell in model(text).cells
    ]


def meta(text: str) -> dict[str, object]:
    return {e.key: e.value for e in model(text).meta[0].entries}


@pytest.mark.parametrize(
    ("fusion", "ops", "outs"),
    [
        ("Sum", ["Sum"], ["s1"]),
        ("ConcatFC", ["ConcatFC"], ["s1"]),
        ("MHA", ["Attention", "Attention"], ["head1", "head2"]),
        ("AoA", ["Attention", "LinearGLU"], ["gated"]),
    ],
)
def test_fusion_replaces_bodies_keeps_inputs(fusion, ops, outs):
    text = ablation.with_fusion(GENOTYPE, fusion)
    m = model(text)
    assert [(c.name, c.x.text, c.y.text) for c in m.cells] == [
        ("c1", "a.f2", "a.f3"),
        ("c2", "b.g1", "c1"),
    ]
    for cell in m.cells:
        assert [s.op for s in cell.steps] == ops
        assert [r.text for r in cell.outs[0].refs] == outs
    assert [r.text for r in m.outputs[0].refs] == ["c1", "c2"]
    assert meta(text) == {"seed": 0, "ablation": fusion}


def test_mha_heads_swap_query_and_aoa_gates_with_the_query():
    mha = bodies(ablation.with_fusion(GENOTYPE, "MHA"))[0]
    assert mha == [
        ("head1", "Attention", ("x", "y")),
        ("head2", "Attention", ("y", "x")),
    ]
    aoa = bodies(ablation.with_fusion(GENOTYPE, "AoA"))[0]
    assert aoa[1] == ("gated", "LinearGLU", ("attended", "x"))


def test_late_fusion_reads_the_last_feature_of_each_backbone():
    pairs = ablation.late_fusion_pairs(GENOTYPE)
    assert pairs == [("a.f3", "b.g2"), ("a.f3", "b.g2")]
    text = ablation.with_inputs(GENOTYPE, pairs, "late fusion")
    assert ablation.cell_inputs(text) == pairs
    assert bodies(text) == bodies(GENOTYPE)  # same fusion cells
    assert meta(text)["ablation"] == "late fusion"


def test_random_pairs_are_reproducible_distinct_and_allowed():
    draws = [
        ablation.random_pairs(GENOTYPE, ablation.draw_rng(3, d)) for d in range(40)
    ]
    again = [
        ablation.random_pairs(GENOTYPE, ablation.draw_rng(3, d)) for d in range(40)
    ]
    assert draws == again
    assert len({tuple(p) for p in draws}) > 10  # the draws do differ
    for pairs in draws:
        (x1, y1), (x2, y2) = pairs
        assert x1 != y1 and x2 != y2
        assert {x1, y1} <= set(FEATURES)  # c1 has no earlier cell
        allowed = [*FEATURES, "c1"]
        assert {x2, y2} <= set(allowed)
        assert allowed.index(x2) < allowed.index(y2)  # x first, as in derivation
        text = ablation.with_inputs(GENOTYPE, pairs, "random")
        assert bodies(text) == bodies(GENOTYPE)
    # Cells reading earlier cells are part of the space (and stay valid, above).
    assert any(pairs[1][1] == "c1" for pairs in draws)
    features_only = [
        ablation.random_pairs(GENOTYPE, ablation.draw_rng(3, d), cells=False)
        for d in range(40)
    ]
    assert all(set(p[1]) <= set(FEATURES) for p in features_only)
    assert draws != [
        ablation.random_pairs(GENOTYPE, ablation.draw_rng(4, d)) for d in range(40)
    ]


def test_unimodal_moves_features_to_the_same_depth_and_keeps_cells():
    # a.f2 (depth 1) -> b.g2; a.f3 (depth 2, clamped) -> b.g2 too, so y becomes the
    # deepest other feature of b; c2's cell input stays.
    assert ablation.unimodal_pairs(GENOTYPE, "b") == [("b.g2", "b.g1"), ("b.g1", "c1")]
    assert ablation.unimodal_pairs(GENOTYPE, "a") == [("a.f2", "a.f3"), ("a.f1", "c1")]
    for m in ("a", "b"):
        text = ablation.with_inputs(GENOTYPE, ablation.unimodal_pairs(GENOTYPE, m), m)
        used = {n for pair in ablation.cell_inputs(text) for n in pair}
        assert {n.split(".")[0] for n in used if "." in n} == {m}
    with pytest.raises(ablation.AblationError):
        ablation.unimodal_pairs(GENOTYPE, "c")


def test_errors_are_reported():
    with pytest.raises(ablation.AblationError, match="unknown fusion"):
        ablation.with_fusion(GENOTYPE, "Max")
    with pytest.raises(ablation.AblationError, match="2 cells"):
        ablation.with_inputs(GENOTYPE, [("a.f1", "b.g1")], "x")
    with pytest.raises(ablation.AblationError, match="invalid variant"):
        ablation.with_inputs(GENOTYPE, [("a.f1", "a.f1"), ("a.f1", "c1")], "x")
    with pytest.raises(ablation.AblationError, match="not a valid genotype"):
        ablation.describe("bmg 1\nmodel m {}")


def test_variants_can_be_transformed_again():
    text = ablation.with_fusion(ablation.with_fusion(GENOTYPE, "Sum"), "AoA")
    assert meta(text)["ablation"] == "AoA"  # re-tagging replaces, never duplicates
    assert "c1(a.f2, a.f3): Attention LinearGLU" in ablation.describe(text)


def load_driver(monkeypatch):
    """The benchmark script as a module (benchmarks/ is not a package); registered in
    sys.modules while the test runs, as its dataclasses need."""
    spec = importlib.util.spec_from_file_location(
        "paper_tables", REPO / "benchmarks" / "paper_tables.py"
    )
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def numbers(value):
    if isinstance(value, dict):
        for v in value.values():
            yield from numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from numbers(v)
    elif isinstance(value, float):
        yield value


def test_driver_end_to_end_and_resumes(tmp_path, capsys, monkeypatch):
    driver = load_driver(monkeypatch)
    out, report = tmp_path / "out", tmp_path / "paper_tables.json"
    argv = ["--quick", "--out", str(out), "--json", str(report)]
    assert driver.main(argv) == 0
    printed = capsys.readouterr().out
    tables = (out / "tables.md").read_text()
    assert tables in printed
    for row in (
        "Sum",
        "ConcatFC",
        "MHA",
        "AoA",
        "Searched",
        "Late fusion",
        "Random",
        "fou backbone",
        "zer backbone",
        "fou only (searched cells)",
        "zer only (searched cells)",
        "search (all epochs)",
        "parameters",
    ):
        assert f"| {row}" in tables, row
    data = json.loads(report.read_text())
    for row in (*driver.FUSION_ROWS, "Searched", "Late fusion", "Random"):
        entry = data["rows"][row]
        assert 0 <= entry["mean"] <= 1 and entry["parameters"] > 0
    assert all(0 <= v <= 1 for v in numbers(data["rows"]["Searched"]["values"]))
    assert data["epochs"]["source"] == "validation"
    assert data["epochs"]["chosen"] in (1, 2)
    search_cost = data["search"]["seconds"]["mean"]  # a recorded figure, not a limit
    assert search_cost > 0
    computed = data["units"]["computed"]
    assert computed > 10 and data["units"]["reused"] == 0

    units = sorted(out.rglob("*.json"))
    stamps = {p: p.stat().st_mtime_ns for p in units}
    assert driver.main(argv) == 0
    assert "units: 0 computed" in capsys.readouterr().out
    again = json.loads(report.read_text())
    assert again["units"] == {"computed": 0, "reused": computed, "stale": 0}
    assert again["rows"] == data["rows"]
    assert {p: p.stat().st_mtime_ns for p in units} == stamps

    # A lost unit (a run killed before writing it) is redone alone.
    lost = next(p for p in units if p.name == "aoa.json" and "test-e" in str(p))
    lost.unlink()
    assert driver.main(argv) == 0
    assert json.loads(report.read_text())["units"] == {
        "computed": 1,
        "reused": computed - 1,
        "stale": 0,
    }
    capsys.readouterr()

    # A unit computed with other settings (say before a change of a default) is stale:
    # recomputed alone, and the new one records the current settings.
    unit = json.loads(lost.read_text())
    assert unit["settings"]["lr"] == driver.TrainSettings().lr
    assert unit["settings"]["epochs"] == unit["epochs"]
    lost.write_text(json.dumps({**unit, "settings": {**unit["settings"], "lr": 0.5}}))
    assert driver.main(argv) == 0
    assert "1 of the computed replaced stale units" in capsys.readouterr().out
    assert json.loads(report.read_text())["units"] == {
        "computed": 1,
        "reused": computed - 1,
        "stale": 1,
    }
    assert json.loads(lost.read_text())["settings"] == unit["settings"]

    # A unit from before units recorded their settings is reused while the defaults
    # it was computed with (LEGACY_TRAIN) are the current ones, and stale after.
    legacy = {k: v for k, v in json.loads(lost.read_text()).items() if k != "settings"}
    lost.write_text(json.dumps(legacy))
    assert driver.main(argv) == 0
    assert json.loads(report.read_text())["units"]["computed"] == 0
    monkeypatch.setitem(driver.LEGACY_TRAIN, "batch_size", 32)
    assert driver.main(argv) == 0
    assert json.loads(report.read_text())["units"]["stale"] == 1
    assert "settings" in json.loads(lost.read_text())
    capsys.readouterr()


def test_search_units_are_checked_against_the_current_settings(monkeypatch):
    from bmnas_dsl.data.planted import make_planted

    driver = load_driver(monkeypatch)
    config, _, _ = driver.parse_config(["--quick", "--data", "planted"])
    bank = make_planted(size=60, seed=1)
    current = driver.search_settings(bank, config, 0)[2]
    assert current["space"]["C"] == 8 and current["training"]["seed"] == 0
    unit = {"seed": 0, "genotype": "bmg 1", "settings": current}
    assert driver.search_unit_valid(unit, current, config, 0)
    assert not driver.search_unit_valid(unit, current, config, 1)  # another seed's
    # The thread count sets the speed, not the result: not a setting that stales.
    threads = {**current, "training": {**current["training"], "threads": 2}}
    assert driver.search_unit_valid({**unit, "settings": threads}, current, config, 0)
    for part, key, value in (("training", "arch_lr", 1e-2), ("space", "dropout", 0.2)):
        other = {**current, part: {**current[part], key: value}}
        assert not driver.search_unit_valid(
            {**unit, "settings": other}, current, config, 0
        )
    # Without settings (an older unit): valid while the defaults are the legacy ones.
    legacy = {"seed": 0, "genotype": "bmg 1"}
    # Such units predate --selection sample (issue #12): stale under today's default...
    assert not driver.search_unit_valid(legacy, current, config, 0)
    # ...and reused where the current settings are still the legacy ones.
    paper = {**current, "training": {**current["training"], "selection": "paper"}}
    assert driver.search_unit_valid(legacy, paper, config, 0)
    monkeypatch.setitem(driver.LEGACY_SEARCH_TRAINING, "weight_lr", 1e-2)
    assert not driver.search_unit_valid(legacy, paper, config, 0)


def test_legacy_defaults_are_the_current_defaults(monkeypatch):
    # The cached units without settings were computed with today's defaults; if a
    # default changes, this fails, and so (rightly) does the reuse of those units.
    from bmnas_dsl.search.space import SearchSpace

    driver = load_driver(monkeypatch)
    train = driver.asdict(driver.TrainSettings())
    assert {k: train[k] for k in driver.LEGACY_TRAIN} == driver.LEGACY_TRAIN
    space = driver.comparable(SearchSpace(features=(), classes=2).to_json())
    assert {k: space[k] for k in driver.LEGACY_SPACE} == driver.LEGACY_SPACE
    training = driver.asdict(driver.Training())
    # Issue #12 changed the selection's default: units without settings are stale.
    legacy = {
        k: v for k, v in driver.LEGACY_SEARCH_TRAINING.items() if k != "selection"
    }
    assert {k: training[k] for k in legacy} == legacy
    assert training["selection"] != driver.LEGACY_SEARCH_TRAINING["selection"]


@pytest.mark.parametrize(
    "argv",
    [
        ["--seeds", "0"],
        ["--random-draws", "0"],
        ["--seeds", "-1"],
        ["--search-epochs", "0"],
        ["--epoch-grid", "10,0"],
        ["--threads", "0"],
    ],
)
def test_counts_below_one_are_refused(monkeypatch, capsys, argv):
    driver = load_driver(monkeypatch)
    with pytest.raises(SystemExit) as caught:
        driver.parse_config(argv)
    assert caught.value.code == 2
    assert "must be at least 1" in capsys.readouterr().err


def test_given_counts_are_kept(monkeypatch):
    driver = load_driver(monkeypatch)
    config, _, _ = driver.parse_config(
        ["--quick", "--seeds", "3", "--random-draws", "2"]
    )
    assert (config.seeds, config.random_draws, config.search_epochs) == (3, 2, 2)
    config, _, _ = driver.parse_config([])
    assert (config.seeds, config.random_draws, config.epoch_grid[0]) == (5, 5, 10)


def test_jobs_give_the_tables_of_a_serial_run(tmp_path, capsys, monkeypatch):
    # Issue 16: --jobs N computes each phase's independent units in N processes; the
    # units, and so the tables, are those of a serial run (timings aside).
    driver = load_driver(monkeypatch)
    reports, parallel_lines = {}, {}
    for jobs in (1, 2):
        out, report = tmp_path / f"out{jobs}", tmp_path / f"tables{jobs}.json"
        argv = [
            "--quick",
            "--epoch-grid",
            "1",
            "--out",
            str(out),
            "--json",
            str(report),
        ]
        assert driver.main([*argv, "--jobs", str(jobs)]) == 0
        reports[jobs] = json.loads(report.read_text())
        parallel_lines[jobs] = capsys.readouterr().err.count("computed (parallel)")
    # Every unit of the parallel run came from a worker; none of the serial run's.
    assert parallel_lines == {1: 0, 2: reports[2]["units"]["computed"]}
    serial, parallel = reports[1], reports[2]
    assert parallel["units"] == serial["units"]  # all computed, none reused
    assert parallel["epochs"]["chosen"] == serial["epochs"]["chosen"]
    assert parallel["epochs"]["grid"] == serial["epochs"]["grid"]
    for row, entry in serial["rows"].items():
        other = parallel["rows"][row]
        for key in ("values", "parameters_values", "mean", "delta_vs_searched"):
            assert other[key] == entry[key], (row, key)
    assert parallel["search"]["paper_per_seed"] == serial["search"]["paper_per_seed"]
    units = sorted(
        p.relative_to(tmp_path / "out1") for p in (tmp_path / "out1").rglob("*")
    )
    assert units == sorted(
        p.relative_to(tmp_path / "out2") for p in (tmp_path / "out2").rglob("*")
    )

    def untimed(path):  # the genotype's text but its meta's search time
        lines = path.read_text().splitlines()
        return [line for line in lines if "search_seconds" not in line]

    for name in units:
        if name.suffix == ".bmg":  # the genotypes trained
            assert untimed(tmp_path / "out1" / name) == untimed(
                tmp_path / "out2" / name
            )
