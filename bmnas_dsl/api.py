"""The public Python API, for notebooks and scripts: every stage of the command line as
one call (docs/api.md). `bmnas_dsl/__init__.py` re-exports these names; they are stable.

Genotypes are `.bmg` text (read files with `read_source` or `Path.read_text`); data is
a name (`"mfeat"`, `"mfeat:fou,kar"`, `"planted"`), a bank path or a `FeatureBank`.
Errors are `BmnasError`s with one-line messages, as at the command line. Torch is
imported by the calls that need it, not by `import bmnas_dsl`, so that checking and
formatting stay fast and torch-free.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from bmnas_dsl.backend.compile import compile_genotype, module_source
from bmnas_dsl.lang.formatter import format_file
from bmnas_dsl.lang.parser import parse
from bmnas_dsl.lang.source import read_source
from bmnas_dsl.passes.pipeline import Frontend, analyse_file, analyse_text

if TYPE_CHECKING:
    from bmnas_dsl.backend.export import ExportReport
    from bmnas_dsl.data.bank import FeatureBank

__all__ = [
    "analyse",
    "analyse_file",
    "compile_source",
    "export_onnx",
    "format_source",
    "import_released",
    "load_data",
    "load_model_class",
    "load_module",
    "read_source",
    "run_search",
    "run_training",
]


def analyse(text: str, path: str = "<string>") -> Frontend:
    """Every front-end stage on `.bmg` text: `.diagnostics` (errors and warnings, each
    with code and span), `.ok`, `.tree` (AST), `.ir` and `.pruned` (networkx graphs;
    `.pruned` is None when there are errors). Never raises for bad input."""
    return analyse_text(text, path)


def format_source(text: str) -> str:
    """The canonical form of `.bmg` text (`bmnas fmt`), comments kept; BmgError when
    the text does not parse."""
    return format_file(parse(text.removeprefix("\ufeff")))


def import_released(
    path_or_text: str | Path | bytes, preset: str | None = None, **overrides: Any
) -> str:
    """The `.bmg` text of a genotype of the authors' released code (`bmnas import`):
    a file (a `best_genotype.pkl`, or text or a log with the printed `Genotype(...)`),
    that printed text itself, or a file's bytes. `overrides`: `features` (a list of
    `("modality.feature", shape)`), `C`, `L`, `classes`, `task`, `dropout` (the
    preset's otherwise), `cells` and `steps` (asserted), `node_multiplier`, `index`
    (which printed genotype; default the last), `name` (default "imported").
    ReleasedGenotypeError, one line, for anything it cannot convert."""
    from bmnas_dsl.released.convert import import_data, settings_for
    from bmnas_dsl.released.source import read_input
    from bmnas_dsl.released.text import START

    settings_keys = {"features", "C", "L", "classes", "task", "dropout"}
    settings = settings_for(
        preset, **{k: v for k, v in overrides.items() if k in settings_keys}
    )
    options = {k: v for k, v in overrides.items() if k not in settings_keys}
    if isinstance(path_or_text, bytes):
        data, source = path_or_text, "<bytes>"
    elif isinstance(path_or_text, str) and START.search(path_or_text):
        data, source = path_or_text.encode("utf-8"), "<string>"
    else:
        data, source = read_input(path_or_text), str(path_or_text)
    return import_data(data, source, settings, **options).text


def compile_source(text: str, name: str = "model.bmg") -> str:
    """The standalone PyTorch module `bmnas compile` writes for this genotype;
    GenotypeError (its message holds the located diagnostics) when it is invalid."""
    return module_source(analyse_text(text, name))


def load_module(text: str, name: str = "model.bmg") -> ModuleType:
    """The module `compile_source` returns, imported: `Model`, and the constants
    `INPUTS` ((feature, shape) in forward's order), `TASK`, `CLASSES`, `C`, `L`."""
    return compile_genotype(text, name)[1]


def load_model_class(text: str, name: str = "model.bmg") -> type:
    """The generated `Model` class (an `nn.Module` taking the features of `INPUTS`)."""
    return load_module(text, name).Model


def export_onnx(
    text: str,
    output: str | Path,
    weights: str | Path | None = None,
    name: str = "model.bmg",
    provider: str = "auto",
) -> ExportReport:
    """Export the genotype (with `weights`, a .safetensors file or state_dict, when
    given) to one ONNX file, checked against PyTorch in ONNX Runtime (`bmnas export`)."""
    from bmnas_dsl.backend.export import export_model
    from bmnas_dsl.backend.weights import load_weights

    _, module = compile_genotype(text, name)
    model = module.Model()
    if weights is not None:
        load_weights(model, weights)
    return export_model(module, model, output, provider=provider)  # type: ignore[arg-type]


def load_data(data: str) -> FeatureBank:
    """A data set by name (`mfeat`, `mfeat:VIEW,...`, `planted`) or a bank's path."""
    from bmnas_dsl.data.resolve import resolve_data

    return resolve_data(data)


def run_search(
    data: str | FeatureBank,
    run_dir: str | Path,
    *,
    output: str | Path | None = None,
    resume: bool = False,
    **knobs: Any,
) -> str:
    """Run `bmnas search` and return the kept genotype's `.bmg` text (also written to
    `output` when given). `knobs` are the search space's (`cells`, `steps`, `C`, `L`,
    `ops`, ...: `bmnas_dsl.search.space.SearchSpace`) and the optimisation's (`epochs`,
    `seed`, `arch_lr`, ...: `bmnas_dsl.search.settings.Training`); docs/search.md.
    Under torchrun every rank calls it alike and rank 0 writes (docs/distributed.md)."""
    from dataclasses import fields

    from bmnas_dsl.fileio import write_atomic
    from bmnas_dsl.parallel.world import backend_device, from_environment, joined
    from bmnas_dsl.search import runner
    from bmnas_dsl.search.record import read_settings
    from bmnas_dsl.search.settings import Training

    run_dir = Path(run_dir)
    bank, name = _bank(data)
    if resume:
        space, training, name, _ = read_settings(run_dir)
    else:
        training_keys = {f.name for f in fields(Training)}
        training = Training(**{k: v for k, v in knobs.items() if k in training_keys})
        space_knobs = {k: v for k, v in knobs.items() if k not in training_keys}
        if "ops" in space_knobs:
            space_knobs["ops"] = tuple(space_knobs["ops"])
        space = runner.space_for(bank, **space_knobs)
    world = from_environment()
    with joined(world, backend_device(training.device, world)):
        text = runner.run_search(
            bank,
            space,
            training,
            name,
            run_dir,
            str(output or ""),
            resume=resume,
            world=world,
        )
    if output is not None and world.writer:
        write_atomic(output, text)
    return text


def run_training(
    text: str,
    data: str | FeatureBank,
    run_dir: str | Path,
    *,
    name: str = "genotype.bmg",
    resume: bool = False,
    show_progress: bool = False,
    **settings: Any,
) -> dict[str, Any]:
    """Run `bmnas train`: fit the genotype's network (on train + val, or on train with
    `holdout="val"`), score the held-out split once, write the run directory; return
    metrics.json's content. `settings` are `bmnas_dsl.train.settings.TrainSettings`'s
    (`epochs`, `lr`, `seed`, `holdout`, ...); docs/train.md. Under torchrun every
    rank calls it alike and rank 0 writes (docs/distributed.md)."""
    from bmnas_dsl.parallel.world import backend_device, from_environment, joined
    from bmnas_dsl.train.runner import train_genotype
    from bmnas_dsl.train.settings import TrainSettings

    bank, data_name = _bank(data)
    world = from_environment()
    device = backend_device(settings.get("device", "auto"), world)
    with joined(world, device):
        return train_genotype(
            text,
            bank,
            TrainSettings(**settings),
            run_dir,
            name=name,
            data=data_name,
            resume=resume,
            show_progress=show_progress,
            world=world,
        )


def _bank(data: str | FeatureBank) -> tuple[FeatureBank, str]:
    """The bank and the name a run records for it."""
    if isinstance(data, str):
        return load_data(data), data
    return data, "<FeatureBank>"
