"""The one path from a genotype to code: analyse, check, render the module, import it.

`bmnas compile` writes `module_source`'s text; `bmnas export`, `bmnas train`, `bmnas
report` and the Python API import the same text with `compile_genotype` or
`load_module`, so every consumer runs exactly what `bmnas compile` writes.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import networkx as nx

from bmnas_dsl.backend.codegen import Source, render_module
from bmnas_dsl.backend.loader import import_generated
from bmnas_dsl.errors import GenotypeError
from bmnas_dsl.passes.pipeline import Frontend, analyse_text


def module_source(result: Frontend) -> str:
    """The generated module of a valid analysis (`bmnas compile`'s output)."""
    return render_module(_checked(result), _source(result))


def load_module(result: Frontend) -> tuple[str, ModuleType]:
    """The generated module's source and the module imported from it. Only text that
    `render_module` has just generated is ever imported (the code-execution audit of
    tests/test_no_code_execution.py checks this on the syntax tree)."""
    source = render_module(_checked(result), _source(result))
    return source, import_generated(source)


def _checked(result: Frontend) -> nx.MultiDiGraph:
    """The pruned IR of a valid analysis; GenotypeError with the diagnostics else."""
    if not result.ok or result.pruned is None:
        raise GenotypeError(invalid_message(result))
    return result.pruned


def _source(result: Frontend) -> Source:
    return Source(Path(result.path).name, result.text)


def compile_genotype(text: str, name: str = "<string>") -> tuple[str, ModuleType]:
    """`.bmg` text -> (module source, imported module); GenotypeError, whose message holds
    the located diagnostics, when the genotype does not pass the checks."""
    return load_module(analyse_text(text, name))


def invalid_message(result: Frontend) -> str:
    return (
        f"{result.path} is not a valid genotype:\n"
        + result.errors_only().render_diagnostics()
    )
