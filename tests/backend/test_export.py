"""ONNX: the exporter-friendly pooling, op-by-op parity of generated code with the runtime
layers, `bmnas export` (weights, checks, atomicity) and `bmnas infer`."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from conftest import EXAMPLES, MINIMAL, REPO, PickleExploit, run_bmnas_here
from genotypes import genotypes
from hypothesis import HealthCheck, given, settings
from safetensors.torch import save_file

from bmnas_dsl.backend import runtime
from bmnas_dsl.backend.codegen import Source, render_module
from bmnas_dsl.backend.export import export_model
from bmnas_dsl.backend.loader import import_generated
from bmnas_dsl.nn import layers
from bmnas_dsl.passes.pipeline import analyse_file, analyse_text
from bmnas_dsl.search.hypernet import make_op


def compile_module(text: str):
    result = analyse_text(text)
    assert result.ok, result.render_diagnostics()
    return import_generated(render_module(result.pruned, Source("model.bmg", text)))


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights and non-trivial BatchNorm running statistics, scaled so that logits
    stay of order 1..100 (absolute tolerances then mean what they say)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            if key.endswith("running_var"):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            else:
                tensor.copy_(torch.randn(tensor.shape, generator=generator) * 0.2)
    return model.eval()


@pytest.mark.parametrize("d1", [1, 2, 3, 5, 7, 8, 13, 32])
@pytest.mark.parametrize("L", [1, 3, 4, 8, 16])
@pytest.mark.parametrize("rest", [1, 5])
def test_position_pool_equals_adaptive_max_pool(d1, L, rest):
    feature = torch.randn(2, 3, d1, rest)
    expected = torch.nn.AdaptiveMaxPool2d((L, 1))(feature).squeeze(-1)
    assert torch.equal(layers.PositionPool(d1, L, rest)(feature), expected)


def test_reshape_pools_like_the_spec_for_every_rank():
    for shape in [(3,), (3, 6), (3, 6, 2), (3, 2, 2, 5)]:
        feature = torch.randn(2, *shape)
        view = feature.reshape(2, shape[0], shape[1] if len(shape) > 1 else 1, -1)
        expected = torch.nn.AdaptiveMaxPool2d((4, 1))(view).squeeze(-1)
        assert torch.equal(layers.Reshape(shape, 8, 4, 0.0).pool(feature), expected)


@pytest.mark.parametrize(
    ("shape", "L"),
    [
        ((4, 7, 3), 3),
        ((4, 3), 8),
        ((4,), 5),
        ((4, 8, 2, 2), 8),
        ((4, 13), 4),
        ((4, 16, 3), 8),
    ],
)
def test_reshape_layer_exports_for_any_d1_and_L(shape, L, tmp_path):
    reshape = randomize(layers.Reshape(shape, 6, L, 0.1))
    feature = torch.randn(3, *shape)
    path = tmp_path / "reshape.onnx"
    program = torch.onnx.export(
        reshape,
        (feature,),
        dynamo=True,
        external_data=False,
        verbose=False,
        dynamic_shapes={"feature": {0: torch.export.Dim("N", min=1)}},
    )
    program.save(path)
    session, _ = runtime.create_session(path, "cpu")
    for n in (1, 4):
        x = torch.randn(n, *shape)
        [got] = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        with torch.no_grad():
            np.testing.assert_allclose(got, reshape(x).numpy(), atol=1e-5, rtol=1e-5)


OPS = {
    "Attention": "Attention(x, y)",
    "LinearGLU": "LinearGLU(x, y)",
    "ConcatFC": "ConcatFC(x, y)",
}


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("training", [False, True])
def test_generated_op_equals_runtime_layer(op, training):
    module = compile_module(MINIMAL.replace("Attention(s1, y)", OPS[op]))
    C, L = module.C, module.L
    runtime_layer = make_op(op, C, L, 0.3)
    generated_layer = getattr(module, op)(*((C, L) if op == "Attention" else (C, 0.3)))
    randomize(runtime_layer, seed=1)
    generated_layer.load_state_dict(runtime_layer.state_dict())
    runtime_layer.train(training)
    generated_layer.train(training)
    x, y = torch.randn(4, C, L), torch.randn(4, C, L)
    torch.manual_seed(7)
    expected = runtime_layer(x, y)
    torch.manual_seed(7)
    assert torch.equal(generated_layer(x, y), expected)


def test_generated_reshape_and_head_equal_runtime_layers():
    module = compile_module(MINIMAL)
    for cls, args, inputs in (
        ("Reshape", ((12, 3, 3), 8, 4, 0.0), (torch.randn(2, 12, 3, 3),)),
        ("Head", (16, 4, 3), (torch.randn(2, 16, 4),)),
        ("ConvBNReLU", (16, 8, 0.0), (torch.randn(2, 16, 4),)),
    ):
        ours = randomize(getattr(layers, cls)(*args), seed=2)
        theirs = getattr(module, cls)(*args).eval()
        theirs.load_state_dict(ours.state_dict())
        assert torch.equal(ours(*inputs), theirs(*inputs))


def test_sum_inline_equals_runtime_sum():
    x, y = torch.randn(2, 8, 4), torch.randn(2, 8, 4)
    assert torch.equal(layers.Sum()(x, y), x + y)  # the template writes Sum as `a + b`
    assert torch.equal(layers.Zero()(x, y), torch.zeros_like(x))


def weights_for(example, path, fmt):
    result = analyse_file(example)
    module = import_generated(
        render_module(result.pruned, Source(example.name, result.text))
    )
    state = randomize(module.Model()).state_dict()
    if fmt == "safetensors":
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, path)
    return module, state


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_export_example_with_weights_matches_torch_in_ort(example, tmp_path):
    fmt = "safetensors" if example.stem < "m" else "pt"
    weights = tmp_path / f"w.{fmt}"
    module, state = weights_for(example, weights, fmt)
    out = tmp_path / "model.onnx"
    result = run_bmnas_here(
        "export", str(example), "-o", str(out), "--weights", str(weights)
    )
    assert result.returncode == 0, result.stderr
    assert "CPUExecutionProvider" in result.stdout
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".data"] == []
    model = module.Model().eval()
    model.load_state_dict(state)
    session, _ = runtime.create_session(out, "cpu")
    assert [i.name for i in session.get_inputs()] == [n for n, _ in module.INPUTS]
    assert [o.name for o in session.get_outputs()] == ["logits"]
    for n in (1, 5):
        inputs = [torch.randn(n, *shape) for _, shape in module.INPUTS]
        [got] = session.run(
            None,
            {
                name: x.numpy()
                for (name, _), x in zip(module.INPUTS, inputs, strict=True)
            },
        )
        with torch.no_grad():
            np.testing.assert_allclose(
                got, model(*inputs).numpy(), atol=1e-4, rtol=1e-4
            )


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=genotypes())
def test_random_genotypes_export_and_match(tmp_path_factory, text):
    module = compile_module(text)
    model = randomize(module.Model())
    path = tmp_path_factory.mktemp("export") / "model.onnx"
    report = export_model(module, model, path, provider="cpu")
    assert path.exists()
    assert all(d <= 1e-4 for d in report.max_abs_diff.values()), report.max_abs_diff


def test_weights_of_another_genotype_are_refused_and_nothing_is_written(tmp_path):
    weights = tmp_path / "other.safetensors"
    weights_for(REPO / "examples" / "sum.bmg", weights, "safetensors")
    out = tmp_path / "model.onnx"
    out.write_bytes(b"previous export")
    result = run_bmnas_here(
        "export",
        str(REPO / "examples" / "aoa.bmg"),
        "-o",
        str(out),
        "--weights",
        str(weights),
    )
    assert result.returncode == 1
    assert "weights do not fit this genotype" in result.stderr
    assert "missing: cells.fuse.attended" in result.stderr
    assert "Traceback" not in result.stderr
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "model.onnx",
        "other.safetensors",
    ]


def test_weights_with_wrong_shapes_name_the_keys(tmp_path):
    weights = tmp_path / "w.pt"
    _, state = weights_for(REPO / "examples" / "sum.bmg", weights, "pt")
    state["head.classifier.bias"] = torch.zeros(7)
    torch.save(state, weights)
    result = run_bmnas_here(
        "export",
        str(REPO / "examples" / "sum.bmg"),
        "-o",
        str(tmp_path / "m.onnx"),
        "--weights",
        str(weights),
    )
    assert result.returncode == 1
    assert "wrong shape: head.classifier.bias (7,) (model: (60,))" in result.stderr


def test_a_malicious_pickle_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    weights = tmp_path / "evil.pt"
    with open(weights, "wb") as handle:
        pickle.dump({"head.classifier.bias": PickleExploit(str(marker))}, handle)
    result = run_bmnas_here(
        "export",
        str(REPO / "examples" / "sum.bmg"),
        "-o",
        str(tmp_path / "m.onnx"),
        "--weights",
        str(weights),
    )
    assert result.returncode == 1
    assert "cannot read weights" in result.stderr
    assert not marker.exists()
    assert not (tmp_path / "m.onnx").exists()


def test_infer_runs_the_exported_model(tmp_path):
    example = REPO / "examples" / "concatfc.bmg"
    weights = tmp_path / "w.safetensors"
    module, state = weights_for(example, weights, "safetensors")
    onnx_path = tmp_path / "m.onnx"
    assert (
        run_bmnas_here(
            "export", str(example), "-o", str(onnx_path), "--weights", str(weights)
        ).returncode
        == 0
    )
    inputs = {
        name: np.random.randn(4, *shape).astype(np.float32)
        for name, shape in module.INPUTS
    }
    np.savez(tmp_path / "x.npz", **inputs)
    result = run_bmnas_here(
        "infer",
        str(onnx_path),
        "--inputs",
        str(tmp_path / "x.npz"),
        "-o",
        str(tmp_path / "out.npz"),
    )
    assert result.returncode == 0, result.stderr
    assert "provider: CPUExecutionProvider" in result.stderr
    model = module.Model().eval()
    model.load_state_dict(state)
    with torch.no_grad():
        expected = model(
            *(torch.from_numpy(inputs[n]) for n, _ in module.INPUTS)
        ).numpy()
    with np.load(tmp_path / "out.npz", allow_pickle=False) as out:
        np.testing.assert_allclose(out["logits"], expected, atol=1e-4, rtol=1e-4)

    np.savez(tmp_path / "bad.npz", **{"video.layer4": inputs["video.layer4"]})
    bad = run_bmnas_here("infer", str(onnx_path), "--inputs", str(tmp_path / "bad.npz"))
    assert bad.returncode == 1
    assert "missing ['skeleton.fc7']" in bad.stderr
    np.savez(
        tmp_path / "shape.npz",
        **{**inputs, "skeleton.fc7": inputs["skeleton.fc7"][:, :5]},
    )
    shape = run_bmnas_here(
        "infer", str(onnx_path), "--inputs", str(tmp_path / "shape.npz")
    )
    assert shape.returncode == 1
    assert "input 'skeleton.fc7' has shape [4, 5]; expected ['N', 512]" in shape.stderr
    cuda = run_bmnas_here(
        "infer",
        str(onnx_path),
        "--inputs",
        str(tmp_path / "x.npz"),
        "--provider",
        "cuda",
    )
    assert cuda.returncode == 1
    assert "CUDA provider is not available" in cuda.stderr


def test_both_runtime_packages_installed_gives_a_warning(monkeypatch, capsys):
    monkeypatch.setattr(runtime.metadata, "version", lambda name: "1.0")
    runtime.import_onnxruntime()
    assert (
        "both onnxruntime and onnxruntime-gpu are installed" in capsys.readouterr().err
    )


def test_no_runtime_package_names_the_extras(monkeypatch):
    def missing(name):
        raise runtime.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(runtime.metadata, "version", missing)
    with pytest.raises(
        runtime.RuntimeSetupError, match=r"\[cpu\] extra .* \[gpu\] extra"
    ):
        runtime.import_onnxruntime()
