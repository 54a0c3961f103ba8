"""The package's shape (issue 11, docs/architecture.md): stages as subpackages, no import
cycle, a torch-free front end, small modules. Read from the source, so that an import
hidden inside a function counts as much as one at the top."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest
from conftest import REPO

PACKAGE = REPO / "bmnas_dsl"
# The front end: text -> AST -> IR -> passes, and the importer of released genotypes
# that feeds it (`bmnas import`). They must load without the training stack.
FRONT_END = ("lang", "ir", "passes", "released")
HEAVY = ("torch", "onnx", "onnxruntime", "numpy", "safetensors", "matplotlib")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """The package modules that the file imports anywhere (functions included);
    `from pkg import mod` counts as importing pkg.mod when that is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the importing package
                parent = package.rsplit(".", node.level - 1)[0]
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in known else base)
    return {m for m in found if m in known and m != name}


def import_graph() -> nx.DiGraph:
    known = modules()
    graph = nx.DiGraph()
    graph.add_nodes_from(known)
    for name, path in known.items():
        graph.add_edges_from(
            (name, target) for target in imported(path, name, set(known))
        )
    return graph


def test_the_import_graph_sees_imports_inside_functions(tmp_path):
    # The checker itself: an import in a function body is an edge like any other.
    source = tmp_path / "probe.py"
    source.write_text("def f():\n    from bmnas_dsl.lang import ast\n")
    known = {"bmnas_dsl.lang", "bmnas_dsl.lang.ast", "probe"}
    assert imported(source, "probe", known) == {"bmnas_dsl.lang.ast"}


def test_no_import_cycle_inside_the_package():
    graph = import_graph()
    assert graph.number_of_edges() > 100  # the graph was really built
    cycles = list(nx.simple_cycles(graph))
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_a_cycle_would_be_found():
    graph = import_graph()
    graph.add_edge("bmnas_dsl.lang.ast", "bmnas_dsl.passes.pipeline")  # a planted one
    assert list(nx.simple_cycles(graph))


def test_the_front_end_imports_no_torch_onnx_or_numpy_even_lazily():
    graph = import_graph()
    front = [m for m in graph if m.split(".")[1:2] and m.split(".")[1] in FRONT_END]
    reached = set().union(*(nx.descendants(graph, m) | {m} for m in front))
    outside = sorted(m for m in reached if m.split(".")[1] not in FRONT_END)
    # Below the front end there are only the torch-free leaves.
    assert outside == ["bmnas_dsl.errors", "bmnas_dsl.resources", "bmnas_dsl.version"]
    heavy = {
        name: sorted(
            i for i in _third_party(modules()[name]) if i.split(".")[0] in HEAVY
        )
        for name in reached
    }
    assert {k: v for k, v in heavy.items() if v} == {}


def _third_party(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("root", FRONT_END)
def test_importing_a_front_end_stage_loads_no_heavy_module(root):
    names = [m for m in modules() if m.split(".")[1:2] == [root]]
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO
    )
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_the_top_level_shows_the_stages():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(set(top) - {"__init__.py", "__main__.py"}) <= 6, top
    stages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert {"lang", "ir", "passes", "backend", "nn", "runs", "data", "cli"} <= stages


def test_no_module_is_over_450_lines():
    long = {
        name: n
        for name, path in modules().items()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 450
    }
    assert long == {}


def test_every_subpackage_is_shipped():
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    shipped = set(config["tool"]["setuptools"]["packages"])
    packages = {module_name(p) for p in PACKAGE.rglob("__init__.py")}
    assert packages <= shipped, sorted(packages - shipped)
