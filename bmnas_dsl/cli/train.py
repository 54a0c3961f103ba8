"""`bmnas train`: train a genotype's network from scratch and score it, new or resumed."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import asdict
from pathlib import Path

from bmnas_dsl.cli import knobs
from bmnas_dsl.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    Subparsers,
    UsageError,
    add_command,
    read_text,
)
from bmnas_dsl.cli.knobs import add_device, add_knob, add_precision, add_threads
from bmnas_dsl.cli.launch import continues_after_restart, machine_settings
from bmnas_dsl.errors import TrainError
from bmnas_dsl.parallel.world import backend_device, from_environment, joined
from bmnas_dsl.runs.checks import COMPILE_MODES, without_machine_settings
from bmnas_dsl.runs.directory import existing_run
from bmnas_dsl.runs.layout import GENOTYPE, SETTINGS
from bmnas_dsl.train.settings import TrainSettings


def add_parser(subparsers: Subparsers) -> None:
    train = add_command(
        subparsers,
        "train",
        "train a genotype's network from scratch, score it on test",
        "The evaluation stage (docs/train.md): the genotype's network, compiled as by "
        "`bmnas compile`, trained on train+val and scored once on test (or, with "
        "--holdout val, trained on train and scored on val each epoch). Writes "
        "RUN_DIR (log, checkpoint, metrics.json, weights.safetensors). Runs on "
        "several processes under torchrun (--batch-size is then the global batch; "
        "docs/distributed.md).",
    )
    train.add_argument(
        "file",
        nargs="?",
        metavar="FILE",
        help="the genotype (.bmg); required for a new run, checked against the run's "
        "with --resume",
    )
    train.add_argument(
        "--data",
        metavar="DATA",
        help="mfeat, mfeat:VIEW,VIEW,... (some views), planted, or the path of a "
        "feature bank (.npz); required for a new run",
    )
    train.add_argument(
        "-o", "--output", required=True, metavar="RUN_DIR", help="the run directory"
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in RUN_DIR; flags not given are the run's, a flag "
        "given must equal the run's",
    )
    train.add_argument(
        "--overwrite", action="store_true", help="start again in a used RUN_DIR"
    )
    add_knobs(train)
    train.set_defaults(run=run, resume_hint=resume_hint)


def add_knobs(train: argparse.ArgumentParser) -> None:
    """The flags of TrainSettings, in `--help` order; defaults from the class."""
    defaults = TrainSettings()
    add_knob(train, "--epochs", type=int, default=defaults.epochs, help="epochs")
    add_knob(train, "--seed", type=int, default=defaults.seed, help="random seed")
    add_knob(
        train,
        "--batch-size",
        type=int,
        default=defaults.batch_size,
        help="rows per step (the global batch, split among torchrun ranks)",
    )
    add_knob(
        train,
        "--lr",
        type=float,
        default=defaults.lr,
        help="Adam learning rate (cosine-annealed)",
    )
    add_knob(
        train,
        "--weight-decay",
        type=float,
        default=defaults.weight_decay,
        help="Adam weight decay",
    )
    add_knob(
        train,
        "--holdout",
        choices=["test", "val"],
        default=defaults.holdout,
        help="test: fit on train+val, score test once; val: fit on train, "
        "score val each epoch, test untouched (for choosing settings)",
    )
    add_precision(train, defaults.precision)
    add_knob(
        train,
        "--compile",
        choices=COMPILE_MODES,
        default=defaults.compile,
        help="train the network under torch.compile in this mode (reduce-overhead: "
        "with CUDA graphs on a GPU); it compiles at the first step (about 10-30 s on "
        "a CPU) and pays on some networks only (docs/performance.md, 'Training "
        "step'); a run setting: dropout then draws from inductor's generator",
    )
    add_threads(train)
    add_device(train)


def settings_of(args: argparse.Namespace) -> TrainSettings:
    return TrainSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        lr=args.lr,
        weight_decay=args.weight_decay,
        holdout=args.holdout,
        precision=args.precision,
        compile=args.compile,
        threads=args.threads,
        device=args.device or "auto",
    )


def run(args: argparse.Namespace) -> int:
    # Heavy (torch): imported only when this command runs.
    from bmnas_dsl.data.resolve import resolve_data
    from bmnas_dsl.train.runner import read_settings, train_genotype

    world = from_environment()  # torchrun's, or a world of one
    if not args.resume and continues_after_restart(world, args.output):
        args.resume = True
    if args.resume:
        text, name, data, settings = read_settings(args.output)
        _check_resume_flags(args, text, data, settings)
        settings = machine_settings(settings, args)
    else:
        if not args.file or not args.data:
            raise UsageError("a new training run needs FILE and --data")
        refusal = existing_run(args.output, args.overwrite)
        if refusal:
            raise TrainError(refusal)
        text = read_text(args.file)
        if text is None:
            return EXIT_INVALID
        name, data, settings = args.file, args.data, settings_of(args)
    found = settings.problems()  # before preparing any data
    if found:
        raise TrainError("; ".join(found))
    bank = resolve_data(data)
    with joined(world, backend_device(settings.device, world)):
        metrics = train_genotype(
            text,
            bank,
            settings,
            args.output,
            name=name,
            data=data,
            resume=args.resume,
            world=world,
        )
    if not world.writer:
        return EXIT_OK
    split = settings.holdout
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics[split].items())
    print(f"{split}: {shown} ({metrics['parameters']:,} parameters)")
    print(f"wrote {Path(args.output) / 'metrics.json'} and weights.safetensors")
    return EXIT_OK


def resume_hint(args: argparse.Namespace) -> str | None:
    """How to continue this run after Ctrl-C (None before its directory exists)."""
    if not (Path(args.output) / SETTINGS).is_file():
        return None
    return f"bmnas train -o {shlex.quote(args.output)} --resume"


def _check_resume_flags(
    args: argparse.Namespace, text: str, data: str, settings: TrainSettings
) -> None:
    """A genotype, data or flag given with --resume must be what the run already has."""
    recorded = without_machine_settings(asdict(settings))
    given = knobs.conflicts(args, recorded, knobs.flag_name)
    if args.data is not None and args.data != data:
        given.insert(0, f"--data {args.data} (the run has {data})")
    if args.file is not None:
        other = read_text(args.file)
        if other is None:
            raise TrainError(f"cannot read {args.file}, given with --resume")
        if other != text:
            given.insert(
                0, f"{args.file} is not the run's genotype ({args.output}/{GENOTYPE})"
            )
    if given:
        raise TrainError(
            f"{args.output}: --resume continues the run with its own settings, but "
            f"{'; '.join(given)}; drop those, or start a new run (another -o, or "
            "--overwrite)"
        )
