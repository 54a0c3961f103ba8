"""`bmnas import` as a user meets it: import -> check -> fmt --check -> info, one-line
errors that create nothing, usage errors, planted pickles."""

from __future__ import annotations

import json
import pickle

import pytest
from conftest import run_bmnas
from released_forms import (
    MMIMDB_README,
    MMIMDB_README_LOGGED_PARAMS,
    NTU_CONFIG1,
    released_module,
    released_object,
)

from bmnas_dsl.cli.main import main

EXIT_INVALID, EXIT_USAGE = 1, 2


def test_a_released_log_imports_checks_formats_and_counts_as_the_log(tmp_path):
    log = tmp_path / "log.txt"
    log.write_text(
        "12/03 10:25:54 PM test Loss: 0.1898 F1: 0.5480\n"
        f"12/03 10:25:54 PM Fusion Model Params: {MMIMDB_README_LOGGED_PARAMS}\n"
        f"12/03 10:25:54 PM {MMIMDB_README}\n"
        "12/03 10:25:54 PM Final Test F1: 0.5479939980034221\n",
        encoding="utf-8",
    )
    out = tmp_path / "mmimdb_best.bmg"
    result = run_bmnas("import", str(log), "--preset", "mmimdb", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"wrote {out}\n"
    assert result.stderr.splitlines() == [
        "read the printed genotype at line 3 (of 1): 2 cell(s) of 1 step(s), reading "
        "3 of 6 inputs",
        "released parameter count (reshape + cells + head, the log's Fusion Model "
        "Params): 532,416; the log says the same (line 2)",
    ]
    check = run_bmnas("check", str(out))
    assert (check.returncode, check.stdout, check.stderr) == (0, f"{out}: ok\n", "")
    assert run_bmnas("fmt", "--check", str(out)).returncode == 0
    info = json.loads(run_bmnas("info", str(out), "--json").stdout)
    assert info["model"] == "mmimdb_best"
    params = info["params"]
    assert params["reshape"] + params["cells"] + params["head"] == 532_416


def test_a_released_pickle_imports_like_its_printed_form(tmp_path, capsys):
    with released_module() as module:
        data = pickle.dumps(released_object(module, NTU_CONFIG1), protocol=3)
    (tmp_path / "best_genotype.pkl").write_bytes(data)
    (tmp_path / "printed.txt").write_text(NTU_CONFIG1, encoding="utf-8")
    for name in ("best_genotype.pkl", "printed.txt"):
        source = str(tmp_path / name)
        assert main(["import", source, "--preset", "ntu", "-o", source + ".bmg"]) == 0
    err = capsys.readouterr().err
    assert "read the pickled genotype: 2 cell(s) of 2 step(s)" in err
    pickled = (tmp_path / "best_genotype.pkl.bmg").read_text(encoding="utf-8")
    printed = (tmp_path / "printed.txt.bmg").read_text(encoding="utf-8")

    def without_provenance(text: str) -> list[str]:
        return [line for line in text.splitlines() if "imported_" not in line]

    # The same file but for where it came from.
    assert without_provenance(pickled) == without_provenance(printed)
    assert 'imported_from = "best_genotype.pkl"' in pickled
    assert 'imported_format = "pickle"' in pickled and "imported_line" not in pickled
    assert 'imported_format = "text"' in printed and "imported_line = 1" in printed


def test_dash_writes_the_file_to_stdout(tmp_path, capsys):
    source = tmp_path / "g.txt"
    source.write_text(NTU_CONFIG1, encoding="utf-8")
    assert main(["import", str(source), "--preset", "ntu", "-o", "-"]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("bmg 1\n\nmodel imported {\n")
    assert "released parameter count" in captured.err
    assert list(tmp_path.iterdir()) == [source]


@pytest.mark.parametrize(
    "name, expected",
    [(None, "model ntu_config1 {"), ("other", "model other {")],
)
def test_the_model_is_named_after_the_output_unless_told(name, expected, tmp_path):
    source = tmp_path / "g.txt"
    source.write_text(NTU_CONFIG1, encoding="utf-8")
    out = tmp_path / "ntu_config1.bmg"
    argv = ["import", str(source), "--preset", "ntu", "-o", str(out)]
    assert main(argv + (["--name", name] if name else [])) == 0
    assert expected in out.read_text(encoding="utf-8")


def test_an_output_stem_that_is_no_name_falls_back(tmp_path):
    source = tmp_path / "g.txt"
    source.write_text(NTU_CONFIG1, encoding="utf-8")
    out = tmp_path / "2021-best.bmg"
    assert main(["import", str(source), "--preset", "ntu", "-o", str(out)]) == 0
    assert "model imported {" in out.read_text(encoding="utf-8")


def test_a_refused_import_is_one_line_and_creates_nothing(tmp_path):
    source = tmp_path / "g.txt"
    source.write_text(
        NTU_CONFIG1.replace("('skip', 7)", "('skip', 12)"), encoding="utf-8"
    )
    out = tmp_path / "out.bmg"
    result = run_bmnas("import", str(source), "--preset", "ntu", "-o", str(out))
    assert result.returncode == EXIT_INVALID
    assert result.stderr == (
        f"bmnas import: error: {source}:1:39: edges[1][1]: index 12 is out of range: "
        "cell 1 reads nodes 0..7 (features 0..7)\n"
    )
    assert result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.txt"]


def test_a_planted_pickle_is_refused_at_the_command_line(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "best_genotype.pkl"
    evil.write_bytes(f"cos\nsystem\n(S'touch {marker}'\ntR.".encode())
    out = tmp_path / "out.bmg"
    result = run_bmnas("import", str(evil), "--preset", "ntu", "-o", str(out))
    assert result.returncode == EXIT_INVALID
    assert result.stderr.startswith(
        f"bmnas import: error: {evil}: refused: the pickle names the global 'os.system';"
    )
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not marker.exists() and not out.exists()


def test_a_missing_file_is_one_line(tmp_path, capsys):
    missing = tmp_path / "nope.pkl"
    assert main(["import", str(missing), "--preset", "ntu", "-o", "x.bmg"]) == 1
    assert capsys.readouterr().err == (
        f"bmnas import: error: cannot read {missing}: No such file or directory\n"
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give --preset, or --features with --C, --L and --classes"),
        (["--features", "a.f:4", "b.g:4", "--C", "8"], "give --preset, or --features"),
        (["--preset", "ntu", "--index", "0"], "argument --index: 0 is not an index"),
        (["--preset", "ntu", "--features", "video"], "argument --features: 'video' is"),
        (
            ["--preset", "ntu", "--features", "class.f:4", "b.g:4"],
            "argument --features: modality name 'class' is a Python keyword",
        ),
        (["--preset", "kinetics"], "argument --preset: invalid choice: 'kinetics'"),
        (["--preset", "ntu", "--name", "x"], "--name 'x' is reserved"),
    ],
)
def test_usage_errors_exit_2(argv, message, tmp_path, capsys):
    source = tmp_path / "g.txt"
    source.write_text(NTU_CONFIG1, encoding="utf-8")
    out = tmp_path / "out.bmg"
    try:
        status = main(["import", str(source), "-o", str(out), *argv])
    except SystemExit as exit_:  # argparse's own errors
        status = exit_.code
    assert status == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith("usage: bmnas import")
    assert f"bmnas import: error: {message}" in err
    assert not out.exists()


def test_help_shows_the_presets(capsys):
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    out = capsys.readouterr().out
    for name in ("ntu", "mmimdb", "ego"):
        assert f"\n  {name} " in out
    assert "skeleton.fc7" in out and "text.o3" in out and "depth.avgpool" in out


def test_an_imported_file_imports_again_as_itself(tmp_path):
    # Its meta block holds the released printed form, so the .bmg file is a text file
    # holding a Genotype(...): importing it gives the same network and meta.
    source = tmp_path / "g.txt"
    source.write_text(
        NTU_CONFIG1.replace("LinearGLU", "cat_conv_glu"), encoding="utf-8"
    )
    first, second = tmp_path / "first.bmg", tmp_path / "second.bmg"
    argv = ["--preset", "ntu", "--name", "same"]
    assert main(["import", str(source), "-o", str(first), *argv]) == 0
    assert main(["import", str(first), "-o", str(second), *argv]) == 0

    def without_provenance(path) -> list[str]:
        lines = path.read_text(encoding="utf-8").splitlines()
        return [line for line in lines if "imported_" not in line]

    assert without_provenance(first) == without_provenance(second)
    assert "'cat_conv_glu'" in second.read_text(encoding="utf-8")
