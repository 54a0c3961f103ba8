"""`bmnas import`: a genotype of the authors' released BM-NAS code as a `.bmg` file."""

from __future__ import annotations

import argparse
import sys
import textwrap
from pathlib import Path

from bmnas_dsl.cli.common import EXIT_OK, Subparsers, UsageError, add_command
from bmnas_dsl.fileio import write_atomic
from bmnas_dsl.lang.ast import TASKS
from bmnas_dsl.lang.names import declarable_problem
from bmnas_dsl.released.convert import (
    DEFAULT_NAME,
    Imported,
    import_file,
    settings_for,
)
from bmnas_dsl.released.presets import PRESETS, parse_feature

_WIDTH = 80  # of the description and the presets table (kept as laid out)


def add_parser(subparsers: Subparsers) -> None:
    command = add_command(
        subparsers,
        "import",
        "convert a genotype of the released BM-NAS code to .bmg",
        "FILE is a released best_genotype.pkl (read by a restricted reader: a pickle "
        "naming any global but the two genotype namedtuples is refused, and nothing "
        "in it runs) or text holding the printed Genotype(...) form, such as a "
        "training log. The preset gives what the genotype does not say (the input "
        "features and their order, C, L, classes, task, dropout); each flag below "
        "overrides it. The output is canonical .bmg (as `bmnas fmt` prints it), "
        "checked by `bmnas check` before it is written, with a meta block naming its "
        "source and the released flags; the released parameter count is printed. "
        "docs/import.md.",
    )
    # Raw, to keep the presets table as laid out; so the description is wrapped here.
    command.formatter_class = argparse.RawDescriptionHelpFormatter
    command.description = textwrap.fill(command.description or "", _WIDTH)
    command.epilog = _presets_table()
    command.add_argument(
        "file",
        metavar="FILE",
        help="a released genotype pickle, or a text file or log with Genotype(...)",
    )
    command.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT.bmg",
        help="the .bmg file to write (atomically), or - for stdout",
    )
    command.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="the released dataset constants (table below); required unless "
        "--features, --C, --L and --classes are all given",
    )
    command.add_argument(
        "--features",
        nargs="+",
        type=_feature,
        metavar="MOD.FEAT:CxD...",
        help="your own input list instead of the preset's, in the released index "
        "order, e.g. video.layer4:2048x8x8x8 skeleton.fc7:512",
    )
    command.add_argument(
        "--C", type=int, metavar="N", help="fusion channels (default: the preset's)"
    )
    command.add_argument(
        "--L", type=int, metavar="N", help="fusion positions (default: the preset's)"
    )
    command.add_argument(
        "--classes",
        type=int,
        metavar="N",
        help="classifier outputs, the released --num_outputs (default: the preset's)",
    )
    command.add_argument(
        "--task",
        choices=TASKS,
        help="loss and metrics (default: the preset's, else multiclass)",
    )
    command.add_argument(
        "--dropout",
        type=float,
        metavar="P",
        help="dropout rate, the released --drpt (default: the preset's, else 0)",
    )
    command.add_argument(
        "--cells",
        type=int,
        metavar="N",
        help="assert the genotype's number of cells, the released --steps "
        "(default: not checked)",
    )
    command.add_argument(
        "--steps",
        type=int,
        metavar="N",
        help="assert its steps per cell, the released --node_steps "
        "(default: not checked)",
    )
    command.add_argument(
        "--node-multiplier",
        type=int,
        metavar="K",
        help="steps concatenated per cell, the released --node_multiplier of the "
        "evaluation run (default: len(inner_concat), the search's)",
    )
    command.add_argument(
        "--index",
        type=_index,
        metavar="K",
        help="which printed genotype of a text file: 1 = first, -1 = last "
        "(default: the last)",
    )
    command.add_argument(
        "--name",
        help="the model name (default: OUT's file name when it is a valid name, "
        f"else {DEFAULT_NAME})",
    )
    command.set_defaults(run=run)


def _presets_table() -> str:
    lines = ["presets (the released code's constants and defaults):"]
    for preset in PRESETS.values():
        names = ", ".join(name for name, _ in preset.features)
        summary = (
            f"{preset.name:<7} {preset.dataset}: C {preset.C}, L {preset.L}, "
            f"{preset.classes} classes, {preset.task}, dropout {preset.dropout:g}; "
            f"searched with {preset.cells} cells of {preset.steps} step(s); inputs "
            f"0..{len(preset.features) - 1}: {names}"
        )
        lines.append(
            textwrap.fill(
                summary, _WIDTH, initial_indent="  ", subsequent_indent=" " * 10
            )
        )
    return "\n".join(lines)


def _feature(spec: str) -> tuple[str, tuple[int, ...]]:
    try:
        return parse_feature(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _index(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value == 0:
        raise argparse.ArgumentTypeError(
            "0 is not an index: 1 is the first, -1 the last"
        )
    return value


def model_name(output: str, given: str | None) -> str:
    """--name, else OUT's stem when a .bmg file may declare it, else the default."""
    if given is not None:
        problem = declarable_problem(given)
        if problem:
            raise UsageError(f"--name {given!r} {problem}")
        return given
    stem = Path(output).stem if output != "-" else ""
    return stem if stem and declarable_problem(stem) is None else DEFAULT_NAME


def run(args: argparse.Namespace) -> int:
    if args.preset is None and (
        args.features is None or None in (args.C, args.L, args.classes)
    ):
        raise UsageError("give --preset, or --features with --C, --L and --classes")
    name = model_name(args.output, args.name)
    settings = settings_for(
        args.preset,
        features=args.features,
        C=args.C,
        L=args.L,
        classes=args.classes,
        task=args.task,
        dropout=args.dropout,
    )
    imported = import_file(
        args.file,
        settings,
        name=name,
        index=args.index,
        cells=args.cells,
        steps=args.steps,
        node_multiplier=args.node_multiplier,
    )
    if args.output == "-":
        sys.stdout.write(imported.text)
    else:
        write_atomic(args.output, imported.text)
        print(f"wrote {args.output}")
    _report(imported)
    return EXIT_OK


def _report(imported: Imported) -> None:
    """What was read and the parameter parity, on stderr (stdout may be the file)."""
    source, structure = imported.source, imported.structure
    if source.kind == "text":
        what = f"the printed genotype at line {source.line} (of {source.count})"
    else:
        what = "the pickled genotype"
    print(
        f"read {what}: {len(structure.cells)} cell(s) of {structure.steps} step(s), "
        f"reading {imported.features_read} of {len(imported.settings.features)} "
        "inputs",
        file=sys.stderr,
    )
    line = (
        "released parameter count (reshape + cells + head, the log's Fusion Model "
        f"Params): {imported.released_params:,}"
    )
    if source.logged_params is not None:
        at, logged = source.logged_params
        if logged == imported.released_params:
            line += f"; the log says the same (line {at})"
        else:
            line += (
                f"; the log says {logged:,} (line {at}): check --preset, --C and --L "
                "(a search log counts the whole supernet)"
            )
    print(line, file=sys.stderr)
    pruned = imported.released_params - imported.bmnas_params
    if pruned:
        print(
            f"note: bmnas counts {imported.bmnas_params:,}; it prunes {pruned:,} "
            "parameters of inputs, steps or cells that never reach the output, which "
            "the released code builds (bmnas info lists them)",
            file=sys.stderr,
        )
