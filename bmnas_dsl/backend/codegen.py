"""Code generation: the pruned IR -> a standalone PyTorch module (`bmnas compile`).

This module turns the IR into a render context of checked identifiers and Python literals,
renders templates/module.py.j2, and formats the result with the pinned ruff, so that the
output is deterministic and `ruff format --check` clean.
"""

from __future__ import annotations

import functools
import hashlib
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jinja2
import networkx as nx

from bmnas_dsl.backend.layer_source import layer_source
from bmnas_dsl.ir.graph import cell_id, nodes_of_kind
from bmnas_dsl.ir.ops import OPS, OpSpec
from bmnas_dsl.passes.prune import ZERO
from bmnas_dsl.resources import templates_dir
from bmnas_dsl.version import __version__

# Attribute names that nn.Module / nn.ModuleDict already own (torch 2.13; a test checks
# the list against the installed torch): a genotype name equal to one gets a trailing `_`
# where it becomes an attribute or a ModuleDict key.
TORCH_ATTRIBUTES = frozenset(
    # One string keeps this list readable; ruff would put a list literal one per line.
    """T_destination add_module apply bfloat16 buffers call_super_init children clear
    compile cpu cuda double dump_patches eval extra_repr float forward get_buffer
    get_extra_state get_parameter get_submodule half ipu items keys load_state_dict modules
    mtia named_buffers named_children named_modules named_parameters parameters pop
    register_backward_hook register_buffer register_forward_hook register_forward_pre_hook
    register_full_backward_hook register_full_backward_pre_hook
    register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
    register_parameter register_state_dict_post_hook register_state_dict_pre_hook
    requires_grad_ set_extra_state set_submodule share_memory state_dict to to_empty train
    training type update values xpu zero_grad""".split()  # noqa: SIM905
)
# Names of the generated module itself, which locals and classes must not shadow.
MODULE_NAMES = frozenset(
    "torch nn BMNAS_VERSION SOURCE SOURCE_SHA256 META C L CLASSES DROPOUT TASK INPUTS "  # noqa: SIM905
    "Model example_inputs pointwise self x y h".split()
)


class Namer:
    """Hands out unique identifiers: the wanted name, or it with `_` appended until free."""

    def __init__(self, taken: Iterable[str] = ()) -> None:
        self.taken = set(taken)

    def __call__(self, wanted: str) -> str:
        name = wanted
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        return name


def camel_case(name: str) -> str:
    parts = [p for p in re.split(r"_+", name) if p]
    return "".join(p[0].upper() + p[1:] for p in parts) or "Model"


def literal(value: Any) -> str:
    """A Python literal for a genotype value; ascii() escapes every non-ASCII character,
    so no string from a .bmg file can end a literal, a comment or a line."""
    if isinstance(value, str):
        return ascii(value)
    if isinstance(value, bool | int | float):
        return repr(value)
    if isinstance(value, tuple):
        items = ", ".join(literal(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, dict):
        # A trailing comma keeps META one entry per line after formatting.
        items = "".join(f"{literal(k)}: {literal(v)}, " for k, v in value.items())
        return "{" + items + "}"
    raise TypeError(f"no literal for {type(value).__name__}")


def comment_text(value: str) -> str:
    """Text safe inside a comment or docstring: ASCII, no quotes, no line breaks."""
    return ascii(value)[1:-1].replace('"', "'")


@dataclass(frozen=True)
class Source:
    """The genotype file a module is compiled from: its name (no directories) and text."""

    name: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def build_context(pruned: nx.MultiDiGraph, source: Source) -> dict:
    """Every name and literal the template needs, with collisions resolved."""
    g = pruned
    module_names = Namer(
        MODULE_NAMES
        | {
            "Reshape",
            "Head",
            "ConvBNReLU",
            "PositionPool",
            "Zero",
            "Sum",
            "Attention",
            "LinearGLU",
            "ConcatFC",
        }
    )
    wanted = camel_case(g.graph["model"])
    # A model named like a layer class (`attention`) becomes `AttentionModel`.
    model_class = module_names(
        wanted + "Model" if wanted in module_names.taken else wanted
    )
    locals_ = Namer(MODULE_NAMES | module_names.taken)

    features = []
    modalities: dict[str, dict] = {}
    keys_of_modality = Namer(TORCH_ATTRIBUTES)
    variable_of: dict[str, str] = {}
    for node in nodes_of_kind(g, "feature"):
        data = g.nodes[node]
        if data["modality"] not in modalities:
            modalities[data["modality"]] = {
                "key_literal": literal(keys_of_modality(data["modality"])),
                "features": [],
                "keys": Namer(TORCH_ATTRIBUTES),
            }
        modality = modalities[data["modality"]]
        feature = {
            "name_literal": literal(data["name"]),
            "shape_literal": literal(tuple(data["shape"])),
            "key_literal": literal(modality["keys"](data["feature"])),
            "modality_key_literal": modality["key_literal"],
            "var": locals_(f"{data['modality']}_{data['feature']}"),
        }
        variable_of[node] = feature["var"]
        modality["features"].append(feature)
        features.append(feature)

    cells = []
    cell_keys = Namer(TORCH_ATTRIBUTES)
    for name in g.graph["cell_order"]:
        data = g.nodes[cell_id(name)]
        cell_class = module_names(f"Cell{camel_case(name)}")
        variable_of[cell_id(name)] = locals_(name)
        cells.append(_cell_context(g, name, data, cell_class, cell_keys, variable_of))

    used_layers = {"Reshape", "Head"}
    for cell in cells:
        used_layers |= {OPS[s["op"]].layer for s in cell["steps"] if s["init"]}
        if cell["project"]:
            used_layers.add("ConvBNReLU")
    return {
        "version": __version__,
        "version_literal": literal(__version__),
        "source_comment": comment_text(source.name),
        "source_literal": literal(source.name),
        "sha": source.sha256,
        "sha_literal": literal(source.sha256),
        "meta_literal": literal(g.graph["meta"]),
        "model_class": model_class,
        "model_name_comment": comment_text(g.graph["model"]),
        "inputs_doc": ", ".join(
            f"{comment_text(g.nodes[n]['name'])} {list(g.nodes[n]['shape'])}"
            for n in nodes_of_kind(g, "feature")
        ),
        "C": g.graph["C"],
        "L": g.graph["L"],
        "classes": g.graph["classes"],
        "task": g.graph["task"],
        "task_literal": literal(g.graph["task"]),
        "dropout_literal": literal(float(g.graph["dropout"])),
        "features": features,
        "modalities": list(modalities.values()),
        "cells": cells,
        "output": [variable_of[cell_id(c)] for c in g.nodes["output"]["cells"]],
        "layer_source": layer_source(used_layers),
    }


def _cell_context(
    g: nx.MultiDiGraph,
    name: str,
    data: dict,
    cell_class: str,
    cell_keys: Namer,
    variable_of: dict[str, str],
) -> dict:
    attributes = Namer(TORCH_ATTRIBUTES)
    project_attr, norm_attr = attributes("project"), attributes("norm")
    variables = Namer(MODULE_NAMES)
    local: dict[str, str] = {
        f"input:{name}.x": "x",
        f"input:{name}.y": "y",
    }
    steps = []
    for step in data["steps"]:
        step_data = g.nodes[step]
        var = variables(step_data["name"])
        local[step] = var
        steps.append(
            {
                "op": step_data["op"],
                "init": module_init(OPS[step_data["op"]]),
                "attr": attributes(step_data["name"]),
                "var": var,
                "args": [
                    local[o] if o != ZERO else "torch.zeros_like(x)"
                    for o in step_data["operands"]
                ],
            }
        )
    inputs = data["inputs"]
    return {
        "class_name": cell_class,
        "key_literal": literal(cell_keys(name)),
        "name_comment": comment_text(name),
        "x_comment": comment_text(g.nodes[inputs["x"]]["name"]),
        "y_comment": comment_text(g.nodes[inputs["y"]]["name"])
        if "y" in inputs
        else "unused",
        "reads_y": "y" in inputs,
        "args": [variable_of[inputs[port]] for port in ("x", "y") if port in inputs],
        "var": variable_of[cell_id(name)],
        "steps": steps,
        "out": [local[o] for o in data["out"]],
        "project": data["project"],
        "project_attr": project_attr,
        "norm_attr": norm_attr,
    }


# How a layer's constructor arguments (bmnas_dsl.ir.ops.ARGUMENTS) are spelled in the
# generated module: its constants.
_ARGUMENT_NAMES = {"C": "C", "L": "L", "dropout": "DROPOUT"}


def module_init(spec: OpSpec) -> str | None:
    """The constructor call of a step's submodule, as the registry entry gives it; None
    for an op that owns no module (written inline, or removed by pruning)."""
    if spec.generated != "module":
        return None
    return f"{spec.layer}({', '.join(_ARGUMENT_NAMES[a] for a in spec.args)})"


@functools.cache
def _environment() -> jinja2.Environment:
    """Loaded once per process: compiling the templates costs more than rendering."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )


def render_module(pruned: nx.MultiDiGraph, source: Source) -> str:
    """The generated module's text, formatted by ruff (deterministic for a given input)."""
    env = _environment()
    text = env.get_template("module.py.j2").render(build_context(pruned, source))
    return format_python(text)


def format_python(text: str) -> str:
    """`ruff format` with its default settings, independent of any project configuration."""
    from ruff.__main__ import find_ruff_bin

    result = subprocess.run(
        [
            find_ruff_bin(),
            "format",
            "--isolated",
            "--stdin-filename",
            "generated.py",
            "-",
        ],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"generated code does not parse (a bmnas bug): {result.stderr}"
        )
    return result.stdout
