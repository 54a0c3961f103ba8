"""No loader runs code from a file (docs/reliability.md, "No code execution"): an audit
of the syntax tree of every module of bmnas_dsl (no unpickling, no eval or exec, no shell,
generated code only from render_module), and malicious pickles in weights and inputs."""

from __future__ import annotations

import ast
import pickle

import numpy as np
import pytest
from conftest import REPO, PickleExploit

# Calls that would run code from a file: the package must not make them. Checked on the
# syntax tree of every module of bmnas_dsl, so that a new loader cannot slip one in.
FORBIDDEN_MODULES = {"pickle", "dill", "cloudpickle", "joblib", "marshal", "shelve"}
# Known exceptions (none now: `bmnas report` recompiles a run's genotype.bmg rather than
# importing its model.py). An entry that no longer matches fails the test, so the list
# cannot go stale.
KNOWN_IMPORTS_OF_FILES: set[tuple[str, str]] = set()


def _calls(tree: ast.AST) -> list[tuple[str, ast.Call]]:
    """Every call with the dotted name it is made through (`torch.load`, `eval`)."""
    return [
        (ast.unparse(node.func), node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    ]


def _keyword(call: ast.Call, name: str) -> object:
    for item in call.keywords:
        if item.arg == name and isinstance(item.value, ast.Constant):
            return item.value.value
    return None


def test_no_loader_in_the_package_can_unpickle_or_run_code():
    problems, known = [], set()
    for path in sorted((REPO / "bmnas_dsl").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        where = path.relative_to(REPO / "bmnas_dsl")
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = (
                    [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                )
                for module in names:
                    if module.split(".")[0] in FORBIDDEN_MODULES:
                        problems.append(f"{where}: imports {module}")
                loads = [a.name for a in node.names if a.name == "load"]
                if isinstance(node, ast.ImportFrom) and loads:  # torch's, numpy's ...
                    problems.append(f"{where}: imports load from {node.module}")
        for name, call in _calls(tree):
            line = f"{where}:{call.lineno}"
            if name == "torch.load" and _keyword(call, "weights_only") is not True:
                problems.append(f"{line}: torch.load without weights_only=True")
            if (
                name in ("np.load", "numpy.load")
                and _keyword(call, "allow_pickle") is not False
            ):
                problems.append(f"{line}: np.load without allow_pickle=False")
            if name in (
                "eval",
                "exec",
                "compile",
                "__import__",
                "os.system",
                "os.popen",
            ):
                problems.append(f"{line}: calls {name}()")
            if name in ("torch.jit.load", "torch.hub.load") or name.startswith(
                "pickle."
            ):
                problems.append(f"{line}: calls {name}()")
            if _keyword(call, "shell") is True:
                problems.append(f"{line}: runs a shell")
            if name.endswith("import_generated") and where.name != "loader.py":
                # Generated code only: the argument must be render_module's output.
                argument = ast.unparse(call.args[0]) if call.args else ""
                if "render_module" not in argument and not _bound_to_render(
                    tree, argument
                ):
                    if (where.name, "import_generated") in KNOWN_IMPORTS_OF_FILES:
                        known.add((where.name, "import_generated"))
                    else:
                        problems.append(f"{line}: import_generated({argument})")
    assert problems == []
    assert known == KNOWN_IMPORTS_OF_FILES, "fixed? then remove it from the list"


def _bound_to_render(tree: ast.AST, name: str) -> bool:
    """Whether `name` is assigned from render_module(...) somewhere in the module."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and "render_module" in ast.unparse(node.value):
            targets = [ast.unparse(t) for t in node.targets]
            if name in targets or any(name in t for t in targets):
                return True
    return False


def test_malicious_pickles_are_never_executed(tmp_path):
    """A weights file in torch.save's zip format, one in the legacy pickle format under
    a .safetensors name, and .npz / .npy inputs holding an object array: each would
    create `marker` if unpickled; each is refused."""
    import torch

    from bmnas_dsl.backend.infer import InferError, read_inputs
    from bmnas_dsl.backend.weights import WeightsError, read_state_dict

    marker = tmp_path / "pwned"
    torch.save({"head.classifier.bias": PickleExploit(str(marker))}, tmp_path / "z.pt")
    with open(tmp_path / "p.safetensors", "wb") as handle:
        pickle.dump({"w": PickleExploit(str(marker))}, handle)
    evil = np.empty(1, dtype=object)
    evil[0] = PickleExploit(str(marker))
    np.savez(tmp_path / "x.npz", **{"v.a": evil})
    np.save(tmp_path / "x.npy", evil, allow_pickle=True)
    for path in ("z.pt", "p.safetensors"):
        with pytest.raises(WeightsError, match="cannot read weights"):
            read_state_dict(tmp_path / path)
    for path in ("x.npz", "x.npy"):
        with pytest.raises(InferError):
            read_inputs(tmp_path / path)
    assert not marker.exists()
