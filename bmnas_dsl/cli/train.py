"""`bmnas train`: train a genotype's network from scratch and score it, new or resumed."""

from __future__ import annotations

import argparse
from pathlib import Path

from bmnas_dsl.cli.common import EXIT_INVALID, EXIT_OK, Subparsers, read_text
from bmnas_dsl.errors import TrainError
from bmnas_dsl.runs.directory import existing_run
from bmnas_dsl.train.settings import TrainSettings


def add_parser(subparsers: Subparsers) -> None:
    train = subparsers.add_parser(
        "train", help="train a genotype's network from scratch, score it on test"
    )
    train.add_argument("file", nargs="?", metavar="FILE")
    train.add_argument("--data", metavar="DATA", help="mfeat, planted or a bank path")
    train.add_argument("-o", "--output", required=True, metavar="RUN_DIR")
    train.add_argument(
        "--resume", action="store_true", help="continue the run in RUN_DIR"
    )
    train.add_argument(
        "--overwrite", action="store_true", help="start again in a used RUN_DIR"
    )
    add_knobs(train)
    train.set_defaults(run=run)


def add_knobs(train: argparse.ArgumentParser) -> None:
    """The flags of TrainSettings, in `--help` order; defaults from the class."""
    defaults = TrainSettings()
    train.add_argument("--epochs", type=int, default=defaults.epochs)
    train.add_argument("--seed", type=int, default=defaults.seed)
    train.add_argument("--batch-size", type=int, default=defaults.batch_size)
    train.add_argument("--lr", type=float, default=defaults.lr)
    train.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    train.add_argument(
        "--holdout",
        choices=["test", "val"],
        default="test",
        help="test: fit on train+val, score test once (default); val: fit on train, "
        "score val each epoch, test untouched (for choosing settings)",
    )
    train.add_argument("--threads", type=int, help="torch threads (default: torch's)")


def settings_of(args: argparse.Namespace) -> TrainSettings:
    return TrainSettings(
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        lr=args.lr,
        weight_decay=args.weight_decay,
        holdout=args.holdout,
        threads=args.threads,
    )


def run(args: argparse.Namespace) -> int:
    # Heavy (torch): imported only when this command runs.
    from bmnas_dsl.data.resolve import resolve_data
    from bmnas_dsl.train.runner import read_settings, train_genotype

    if args.resume:
        text, name, data, settings = read_settings(args.output)
    else:
        if not args.file or not args.data:
            raise TrainError("a new training run needs FILE and --data")
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
    metrics = train_genotype(
        text, bank, settings, args.output, name=name, data=data, resume=args.resume
    )
    split = settings.holdout
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics[split].items())
    print(f"{split}: {shown} ({metrics['parameters']:,} parameters)")
    print(f"wrote {Path(args.output) / 'metrics.json'} and weights.safetensors")
    return EXIT_OK
