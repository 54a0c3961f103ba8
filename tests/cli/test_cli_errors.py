"""Clear errors of commands (docs/reliability.md, "Clear errors"): bad inputs of
`bmnas infer`, bad weights of `bmnas export --weights`, bad data, outputs that cannot be
written, a closed pipe and an ASCII terminal: one line on stderr and exit 1 (or a clean
exit), never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import MINIMAL, REPO, run_bmnas
from reliability_helpers import assert_one_line_error, load_benchmark, run_cli_many

from bmnas_dsl.backend.codegen import Source, render_module
from bmnas_dsl.backend.loader import import_generated
from bmnas_dsl.passes.pipeline import analyse_text

scaling = load_benchmark("scaling")


def _tiny_onnx(path: Path, outputs: int = 1) -> None:
    """A two-input ONNX model (v.a: (N, 4), w.b: (N, 2, 3)) -> logits (N, 3), built
    directly: the infer checks do not need the exporter."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def value(name: str, shape: list) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)

    weights = [
        numpy_helper.from_array(np.ones((4, 3), np.float32), "w1"),
        numpy_helper.from_array(np.ones((6, 3), np.float32), "w2"),
        numpy_helper.from_array(np.array([0, -1], np.int64), "flat_shape"),
    ]
    nodes = [
        helper.make_node("MatMul", ["v.a", "w1"], ["h1"]),
        helper.make_node("Reshape", ["w.b", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w2"], ["h2"]),
        helper.make_node("Add", ["h1", "h2"], ["logits"]),
    ]
    results = [value("logits", ["N", 3]), value("h1", ["N", 3])][:outputs]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [value("v.a", ["N", 4]), value("w.b", ["N", 2, 3])],
        results,
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def test_infer_errors_are_one_line(tmp_path):
    """Missing, extra, mis-shaped, mis-typed, empty or non-finite inputs, files that are
    not .npz or not ONNX, and outputs that cannot be written: exit 1, one line, and an
    existing output left as it was."""
    model, two = tmp_path / "m.onnx", tmp_path / "two.onnx"
    _tiny_onnx(model)
    _tiny_onnx(two, outputs=2)
    a = np.ones((2, 4), np.float32)
    b = np.ones((2, 2, 3), np.float32)
    inputs = {
        "good": {"v.a": a, "w.b": b},
        "missing": {"v.a": a},
        "extra": {"v.a": a, "w.b": b, "z.c": a},
        "shape": {"v.a": a, "w.b": np.ones((2, 3, 2), np.float32)},
        "rank": {"v.a": a, "w.b": np.ones((2, 6), np.float32)},
        "dtype": {"v.a": a.astype(np.int64), "w.b": b},
        "bool": {"v.a": a.astype(bool), "w.b": b},
        "batch": {"v.a": a, "w.b": np.ones((3, 2, 3), np.float32)},
        "empty": {"v.a": a[:0], "w.b": b[:0]},
        "nan": {"v.a": a * np.nan, "w.b": b},
    }
    for name, arrays in inputs.items():
        np.savez(tmp_path / f"{name}.npz", **arrays)
    (tmp_path / "text.npz").write_text("not a zip")
    np.save(tmp_path / "bare.npy", a)
    kept = tmp_path / "kept.npz"
    kept.write_bytes(b"previous logits")
    (tmp_path / "adir").mkdir()

    def infer(inputs_name: str, *extra: str, onnx_path: Path = model) -> list[str]:
        return [
            "infer",
            str(onnx_path),
            "--inputs",
            str(tmp_path / inputs_name),
            *extra,
        ]

    cases = [
        (infer("missing.npz", "-o", str(kept)), ["missing ['w.b']"]),
        (infer("extra.npz"), ["unexpected ['z.c']"]),
        (infer("shape.npz"), ["input 'w.b' has shape [2, 3, 2]; expected ['N', 2, 3]"]),
        (infer("rank.npz"), ["input 'w.b' has shape [2, 6]"]),
        (infer("dtype.npz"), ["input 'v.a' has dtype int64; expected floats"]),
        (infer("bool.npz"), ["dtype bool"]),
        (infer("batch.npz"), ["batch size 3, others 2"]),
        (infer("empty.npz"), ["no samples"]),
        (infer("nan.npz"), ["NaN or Inf"]),
        (infer("text.npz"), ["not a readable .npz"]),
        (infer("bare.npy"), ["one .npy array"]),
        (infer("nothere.npz"), ["no such file"]),
        (infer("good.npz", onnx_path=tmp_path / "good.npz"), ["not a loadable ONNX"]),
        (infer("good.npz", onnx_path=tmp_path / "adir"), ["not a file"]),
        (infer("good.npz", onnx_path=two), ["has 2 outputs"]),
        (infer("good.npz", "-o", str(tmp_path / "adir")), ["cannot write", "Is a directory"]),
        (infer("good.npz", "-o", str(tmp_path / "no" / "o.npz")), ["cannot write", "No such file"]),
        (infer("good.npz", "-o", str(kept / "o.npz")), ["cannot write", "Not a directory"]),
    ]  # fmt: skip
    results = run_cli_many([argv for argv, _ in [(infer("good.npz"), []), *cases]])
    assert results[0]["status"] == 0 and "logits [2, 3]" in results[0]["stdout"]
    for (_, words), result in zip(cases, results[1:], strict=True):
        assert_one_line_error(result, "bmnas infer: error: ", *words)
    assert kept.read_bytes() == b"previous logits"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_export_weights_errors_are_one_line_and_write_nothing(tmp_path):
    """Weights of another genotype, of wrong shapes, truncated, not a state dict, a
    directory, missing: exit 1, one line, the previous export kept, no temporary file."""
    import torch
    from safetensors.torch import save_file

    genotype = tmp_path / "g.bmg"
    genotype.write_text(MINIMAL)
    other = analyse_text(MINIMAL.replace("Attention(s1, y)", "ConcatFC(s1, y)"))
    other_model = import_generated(
        render_module(other.pruned, Source("o.bmg", MINIMAL))
    ).Model()
    save_file(other_model.state_dict(), str(tmp_path / "other.safetensors"))
    own = import_generated(
        render_module(analyse_text(MINIMAL).pruned, Source("g.bmg", MINIMAL))
    ).Model()
    state = own.state_dict()
    state["head.classifier.bias"] = torch.zeros(7)
    torch.save(state, tmp_path / "shape.pt")
    data = (tmp_path / "other.safetensors").read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    torch.save([1, 2, 3], tmp_path / "list.pt")
    (tmp_path / "noise.pt").write_bytes(os.urandom(256))
    (tmp_path / "empty.safetensors").write_bytes(b"")
    out = tmp_path / "out.onnx"
    out.write_bytes(b"previous export")
    cases = [
        ("other.safetensors", ["weights do not fit this genotype", "missing: "]),
        ("shape.pt", ["wrong shape: head.classifier.bias (7,) (model: (3,))"]),
        ("cut.safetensors", ["cannot read weights"]),
        ("list.pt", ["not a state_dict"]),
        ("noise.pt", ["cannot read weights"]),
        ("empty.safetensors", ["cannot read weights"]),
        ("nothere.pt", ["no such file"]),
        (".", ["cannot read weights"]),
    ]
    commands = [
        ["export", str(genotype), "-o", str(out), "--weights", str(tmp_path / name)]
        for name, _ in cases
    ]
    commands.append(["export", str(genotype), "-o", str(tmp_path)])  # a directory
    results = run_cli_many(commands)
    for (_, words), result in zip(cases, results, strict=False):
        assert_one_line_error(result, "bmnas export: error: ", *words)
    assert_one_line_error(results[-1], "bmnas export: error: cannot write", "directory")
    assert out.read_bytes() == b"previous export"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_data_errors_are_one_line(tmp_path):
    """Unknown names (the message lists the valid ones), paths that are no bank, banks
    with malformed metadata, and a genotype whose shapes the data set does not have."""
    from bmnas_dsl.data.bank import FeatureBank, save_bank

    rng = np.random.default_rng(0)
    bank = FeatureBank(
        features={"v.f1": rng.standard_normal((6, 4, 3)).astype(np.float32)},
        labels=np.arange(6) % 3,
        split=np.array([0, 1, 2] * 2, dtype=np.int8),
        task="multiclass",
        classes=3,
    )
    save_bank(bank, tmp_path / "bank.npz")
    with np.load(tmp_path / "bank.npz") as archive:
        arrays = dict(archive)
    meta = json.loads(str(arrays["meta"]))
    for name, broken in {
        "nofeatures": {**meta, "modalities": [{"name": "v"}]},
        "notalist": {**meta, "modalities": 5},
        "list": [1, 2],
        "info": {**meta, "info": 7},
    }.items():
        np.savez(
            tmp_path / f"{name}.npz", **{**arrays, "meta": np.array(json.dumps(broken))}
        )
    (tmp_path / "text.npz").write_text("hello")
    genotype = tmp_path / "g.bmg"  # planted has a.f1 : [8, 6]; this says [8, 5]
    genotype.write_text(
        "bmg 1\nmodel m {\n    dims C = 4, L = 2\n    classes 4\n"
        "    modality a {\n        f1 : [8, 5]\n        f4 : [32]\n    }\n"
        "    cell c (x = a.f1, y = a.f4) {\n        s = Sum(x, y)\n        out = s\n"
        "    }\n    output c\n}\n"
    )
    cases = [
        (["data", "NOPE"], ["unknown data 'NOPE'", "mfeat, planted"]),
        (["data", ""], ["unknown data ''"]),
        (["data", "planted:x"], ["unknown data 'planted:x'"]),
        # A path that does not exist is said to be missing, not an unknown name.
        (["data", "/nonexistent/bank.npz"], ["/nonexistent/bank.npz: no such file"]),
        (["data", "bank.npz"], ["bank.npz: no such file"]),
        (["data", "mfeat:nope"], ["nope"]),
        (["data", str(tmp_path)], ["a directory without meta.json"]),
        (["data", str(tmp_path / "text.npz")], ["not a feature bank"]),
        (["data", "planted", "--genotype", str(genotype)], ["feature 'a.f1' is [8, 6] in the bank but [8, 5] in the genotype"]),
        (["data", "planted", "--genotype", str(tmp_path / "nothere.bmg")], ["cannot read file"]),
    ] + [
        (["data", str(tmp_path / f"{name}.npz")], ["not a valid feature bank"])
        for name in ("nofeatures", "notalist", "list", "info")
    ]  # fmt: skip
    results = run_cli_many([argv for argv, _ in cases])
    for (argv, words), result in zip(cases, results, strict=True):
        missing_genotype = argv[-1].endswith("nothere.bmg")  # a front-end message
        prefix = f"{argv[-1]}: error: " if missing_genotype else "bmnas data: error: "
        assert_one_line_error(result, prefix, *words)


def test_compile_outputs_that_cannot_be_written_are_one_line(tmp_path):
    example = str(REPO / "examples" / "sum.bmg")
    (tmp_path / "adir").mkdir()
    (tmp_path / "file").write_text("x")
    cases = [
        (tmp_path / "adir", "Is a directory"),
        (tmp_path / "file" / "m.py", "Not a directory"),
        (tmp_path / "no" / "m.py", "No such file or directory"),
    ]
    results = run_cli_many([["compile", example, "-o", str(t)] for t, _ in cases])
    for (target, reason), result in zip(cases, results, strict=True):
        assert_one_line_error(
            result, f"bmnas compile: error: cannot write {target}: {reason}"
        )
    assert sorted(p.name for p in (tmp_path / "adir").iterdir()) == []


def test_a_closed_pipe_and_an_ascii_terminal_are_clean_exits(tmp_path):
    big = tmp_path / "big.bmg"
    big.write_text(scaling.chain(300))
    command = [sys.executable, "-m", "bmnas_dsl", "ir", "--json", str(big)]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.read(1)
        proc.stdout.close()  # the reader leaves, as `| head -c 1` does
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0, stderr
    assert stderr == ""
    closed = subprocess.run(  # stdout closed from the start: sys.stdout is None
        f"'{sys.executable}' -m bmnas_dsl check '{big}' >&-",
        shell=True,
        capture_output=False,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert closed.returncode == 0 and closed.stderr == "", closed.stderr
    text = MINIMAL.replace("classes 3", "classes 3  # caf\u00e9")
    (tmp_path / "accent.bmg").write_text(text)
    env = {**os.environ, "PYTHONIOENCODING": "ascii"}
    result = run_bmnas("fmt", str(tmp_path / "accent.bmg"), env=env)
    assert result.returncode == 1
    assert result.stderr.strip().endswith("set PYTHONIOENCODING=utf-8"), result.stderr
    assert "Traceback" not in result.stderr
