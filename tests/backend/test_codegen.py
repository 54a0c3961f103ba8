"""`bmnas compile`: the generated module's contract (cli.md) for every example and for
random genotypes, and generated/ kept current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import EXAMPLES, MINIMAL, REPO, run_bmnas
from genotypes import genotypes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bmnas_dsl.backend.codegen import TORCH_ATTRIBUTES, Source, render_module
from bmnas_dsl.backend.loader import import_generated
from bmnas_dsl.passes.describe import describe
from bmnas_dsl.passes.pipeline import analyse_file, analyse_text

RUFF = [sys.executable, "-m", "ruff"]


def compile_text(text: str, name: str = "model.bmg") -> str:
    result = analyse_text(text, name)
    assert result.ok, result.render_diagnostics()
    return render_module(result.pruned, Source(name, text))


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_generated_folder_is_current(example):
    result = analyse_file(example)
    expected = render_module(result.pruned, Source(example.name, result.text))
    current = REPO / "generated" / f"{example.stem}.py"
    assert current.exists(), f"{current} missing: run `make generated`"
    assert current.read_text() == expected, f"{current} is stale: run `make generated`"


def test_generated_folder_has_nothing_else():
    assert sorted(p.stem for p in (REPO / "generated").glob("*.py")) == sorted(
        e.stem for e in EXAMPLES
    )


def test_generated_modules_are_ruff_clean_with_default_settings():
    files = [str(p) for p in (REPO / "generated").glob("*.py")]
    for command in (["check", "--isolated"], ["format", "--isolated", "--check"]):
        result = subprocess.run(
            [*RUFF, *command, *files], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr


CONTRACT_PROBE = """
import importlib, json, sys, torch
sys.path.insert(0, ".")
module = importlib.import_module(sys.argv[1])
assert module.Model is getattr(module, module.Model.__name__)
model = module.Model().eval()
inputs = module.example_inputs(3)
assert [tuple(x.shape[1:]) for x in inputs] == [tuple(s) for _, s in module.INPUTS]
with torch.no_grad():
    out = model(*inputs)
state = model.state_dict()
torch.save(state, "weights.pt")
twin = module.Model().eval()
twin.load_state_dict(torch.load("weights.pt", weights_only=True))
with torch.no_grad():
    same = torch.equal(twin(*inputs), out)
print(json.dumps({
    "shape": list(out.shape),
    "params": sum(p.numel() for p in model.parameters()),
    "keys": list(state),
    "same_after_reload": same,
    "modules": sorted(m for m in sys.modules if m.split(".")[0] == "bmnas_dsl"),
}))
"""


# One interpreter, started as the probe's would be (no PYTHONPATH: a module must stand
# alone), imports what CONTRACT_PROBE's first line imports, then forks a child per
# module: each child runs CONTRACT_PROBE from the state a fresh `python -c
# CONTRACT_PROBE` has after that line (nothing of bmnas_dsl imported), in the module's
# folder, its streams in files there. Every module is probed alone in its own process,
# without paying an interpreter's start and torch's import (seconds) for each.
FORKING_PROBER = r"""
import importlib, json, os, sys, torch
probe = compile(sys.argv[1], "<probe>", "exec")
for line in sys.stdin:
    folder, name = json.loads(line)
    streams = [os.path.join(folder, f"{name}.probe.{s}") for s in ("out", "err")]
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.chdir(folder)
            for fd, path in zip((1, 2), streams):
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
            sys.argv = ["-c", name]
            exec(probe, {"__name__": "__main__"})
            status = 0
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
    _, wait_status = os.waitpid(pid, 0)
    out, err = (open(path, encoding="utf-8").read() for path in streams)
    code = os.waitstatus_to_exitcode(wait_status)
    print(json.dumps([code, out, err]), flush=True)
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory):
    """`probe(folder, name)`: CONTRACT_PROBE's run on folder/name.py, as
    `subprocess.run([python, "-c", CONTRACT_PROBE, name], cwd=folder)` gives it."""
    prober = subprocess.Popen(
        [sys.executable, "-c", FORKING_PROBER, CONTRACT_PROBE],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path_factory.mktemp("prober"),  # an empty folder, as a probe's is
        env={"PATH": "/usr/bin:/bin"},  # no PYTHONPATH: the module must stand alone
    )

    def _probe(folder: Path, name: str) -> subprocess.CompletedProcess:
        assert prober.stdin is not None and prober.stdout is not None
        prober.stdin.write(json.dumps([str(folder), name]) + "\n")
        prober.stdin.flush()
        line = prober.stdout.readline()
        assert line, f"the prober stopped (exit {prober.wait()})"
        code, out, err = json.loads(line)
        return subprocess.CompletedProcess(name, code, out, err)

    yield _probe
    assert prober.stdin is not None
    prober.stdin.close()
    assert prober.wait(timeout=60) == 0


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.stem for e in EXAMPLES])
def test_compiled_example_meets_the_module_contract(example, tmp_path, probe):
    out = tmp_path / f"{example.stem}.py"
    result = run_bmnas("compile", str(example), "-o", str(out))
    assert result.returncode == 0, result.stderr
    probed = probe(tmp_path, example.stem)
    assert probed.returncode == 0, probed.stderr
    report = json.loads(probed.stdout)
    info = describe(analyse_file(example).pruned)
    assert report["shape"] == [3, info["classes"]]
    assert report["params"] == info["params"]["total"]
    assert report["same_after_reload"]
    assert report["modules"] == []
    assert all(
        not any(part.isdigit() for part in key.split(".")) for key in report["keys"]
    )


def test_state_dict_keys_are_readable():
    module = import_generated(
        compile_text((REPO / "examples/ntu_config1.bmg").read_text())
    )
    keys = list(module.Model().state_dict())
    assert "cells.c1.s2.conv.weight" in keys
    assert "cells.c1.project.bn.running_mean" in keys
    assert "cells.c2.s1.norm.weight" in keys
    assert "reshape.video.layer4.conv.weight" in keys
    assert "head.classifier.weight" in keys


def test_only_the_ops_used_are_in_the_module():
    source = (REPO / "generated" / "sum.py").read_text()
    for absent in (
        "Attention(",
        "LinearGLU(",
        "ConcatFC(",
        "class Zero(",
        "class Sum(",
    ):
        assert absent not in source
    assert "s1 = x + y" in source
    aoa = (REPO / "generated" / "aoa.py").read_text()
    assert "class Attention" in aoa and "class LinearGLU" in aoa
    assert "class ConcatFC" not in aoa


def test_header_names_source_sha256_and_version():
    text = (REPO / "examples" / "mha.bmg").read_text()
    import hashlib

    from bmnas_dsl.version import __version__

    head = compile_text(text, "mha.bmg").splitlines()[:3]
    assert (
        head[0]
        == f"# Generated by bmnas {__version__}; do not edit (recompile with `bmnas compile`)."
    )
    assert head[1] == "# source: mha.bmg"
    assert head[2] == f"# sha256: {hashlib.sha256(text.encode()).hexdigest()}"


def test_compile_is_deterministic(tmp_path):
    first, second = tmp_path / "a.py", tmp_path / "b.py"
    example = str(REPO / "examples" / "aoa.bmg")
    assert run_bmnas("compile", example, "-o", str(first)).returncode == 0
    assert run_bmnas("compile", example, "-o", str(second)).returncode == 0
    assert first.read_bytes() == second.read_bytes()


def test_names_colliding_with_torch_and_python_are_renamed_consistently():
    text = (
        MINIMAL.replace("s2 = Attention(s1, y)", "norm = Attention(s1, y)")
        .replace("out = s1, s2", "out = s1, norm")
        .replace("modality b {", "modality keys {")
        .replace("b.g1", "keys.g1")
        .replace("cell c2", "cell train")
        .replace("output c1, c2", "output c1, train")
        .replace("s1 = LinearGLU(x, y)", "torch = LinearGLU(x, y)")
        .replace("        out = s1\n", "        out = torch\n")
        .replace("model tiny", "model linear_g_l_u")
    )
    module = import_generated(compile_text(text))
    model = module.Model().eval()
    assert module.Model.__name__ == "LinearGLUModel"
    keys = list(model.state_dict())
    assert (
        "cells.c1.norm_.norm.weight" in keys
    )  # the step `norm` beside the cell's norm
    assert "cells.train_.torch.conv.weight" in keys
    assert "reshape.keys_.g1.conv.weight" in keys
    assert model(*module.example_inputs(2)).shape == (2, 3)


def test_meta_strings_cannot_change_the_code():
    nasty = [
        'quote \\" and \\\\ backslash',
        '\\"\\"\\" triple quotes \\"\\"\\"',
        "ends with backslash \\\\",
        "') ; import os; os.system('touch pwned') #",
        "unicode \u2028 line separator, NUL \x00 and \u00e9",
    ]
    entries = "\n".join(f'        k{i} = "{value}"' for i, value in enumerate(nasty))
    text = MINIMAL.replace(
        "    classes 3\n", f"    classes 3\n    meta {{\n{entries}\n    }}\n"
    )
    result = analyse_text(text)
    assert result.ok, result.render_diagnostics()
    source = compile_text(text)
    module = import_generated(source)
    assert result.pruned.graph["meta"] == module.META
    assert not Path("pwned").exists()
    assert "\x00" not in source and "\u2028" not in source
    assert (
        subprocess.run(
            [*RUFF, "check", "--isolated", "-"],
            input=source,
            text=True,
            capture_output=True,
        ).returncode
        == 0
    )


def test_torch_attribute_list_covers_the_installed_torch():
    names = {n for n in dir(torch.nn.ModuleDict) if not n.startswith("_")}
    names |= {n for n in vars(torch.nn.Module()) if not n.startswith("_")}
    assert names <= TORCH_ATTRIBUTES


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(genotypes(), min_size=5, max_size=5))
def test_random_genotypes_meet_the_module_contract(tmp_path_factory, probe, texts):
    """Five random genotypes per example, each compiled into a temporary directory and
    imported there in a process of its own (one per genotype), like the examples."""
    folder = tmp_path_factory.mktemp("random")
    for index, text in enumerate(texts):
        result = analyse_text(text)
        source = render_module(result.pruned, Source(f"random{index}.bmg", text))
        (folder / f"random{index}.py").write_text(source)
        formatted = subprocess.run(
            [*RUFF, "format", "--isolated", "--check", "-"],
            input=source,
            text=True,
            capture_output=True,
        )
        assert formatted.returncode == 0
        probed = probe(folder, f"random{index}")
        assert probed.returncode == 0, probed.stderr
        report = json.loads(probed.stdout)
        info = describe(result.pruned)
        assert report["shape"] == [3, info["classes"]]
        assert report["params"] == info["params"]["total"]
        assert report["same_after_reload"]
