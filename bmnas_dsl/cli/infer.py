"""`bmnas infer`: run an exported ONNX model on an .npz of inputs or on a feature bank."""

from __future__ import annotations

import argparse
import errno
import os
import sys
from pathlib import Path

from bmnas_dsl.cli.common import EXIT_OK, PROVIDERS, Subparsers, UsageError, add_command

SPLIT_CHOICES = ("all", "train", "val", "test")


def add_parser(subparsers: Subparsers) -> None:
    infer = add_command(
        subparsers,
        "infer",
        "run an exported model with ONNX Runtime",
        "Runs MODEL.onnx (from `bmnas export`) on --inputs: an .npz holding exactly the "
        "model's inputs, or a feature bank, from which the features the model takes "
        "are chosen by name (docs/compile.md). Prints a short summary (samples, "
        "inputs, predicted class counts and, for a bank, the score against its labels "
        "per split); -o writes the predictions.",
    )
    infer.add_argument("model", metavar="MODEL.onnx", help="the exported model")
    infer.add_argument(
        "--inputs",
        required=True,
        metavar="INPUTS",
        help="an .npz of arrays named after the model's inputs (modality.feature, "
        "each (N, ...)); or a feature bank: mfeat, mfeat:VIEW,VIEW,..., planted, or "
        "the path of a bank (.npz, docs/data.md)",
    )
    infer.add_argument(
        "--split",
        choices=SPLIT_CHOICES,
        help="the bank's rows to run: one split, or all of them (default: all); only "
        "with a feature bank",
    )
    infer.add_argument(
        "--provider",
        choices=PROVIDERS,
        default="auto",
        help="ONNX Runtime execution provider: cpu; cuda (an error unless CUDA really "
        "runs); auto: CUDA when a session on it really runs there, else the CPU "
        "(default: auto)",
    )
    infer.add_argument(
        "-o",
        "--output",
        metavar="OUT.npz",
        help="write the predictions here (atomically): logits; from a bank also "
        "predicted, labels, split and index (the bank's row of each prediction) "
        "(default: none, only the summary)",
    )
    infer.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Heavy (numpy, onnxruntime): imported only when this command runs.
    from bmnas_dsl.backend.infer import (
        load_inputs,
        run_inference,
        save_predictions,
        summary,
    )
    from bmnas_dsl.data.bank import FeatureBank

    if args.output:
        _check_writable(args.output)
    source = load_inputs(args.inputs)
    if args.split and not isinstance(source, FeatureBank):
        raise UsageError(
            f"--split chooses rows of a feature bank; {args.inputs} is an .npz of "
            "the model's inputs"
        )
    result = run_inference(
        args.model, args.inputs, args.provider, args.split, source=source
    )
    print(f"provider: {result.provider}", file=sys.stderr)
    for line in summary(result):
        print(line)
    if args.output:
        written = save_predictions(args.output, result)
        print(f"wrote {args.output} ({', '.join(written)})")
    return EXIT_OK


def _check_writable(name: str) -> None:
    """OSError for an output that cannot be written: said before inference runs."""
    output = Path(name)
    if output.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), output)
    if not output.parent.is_dir():
        code = errno.ENOTDIR if output.parent.exists() else errno.ENOENT
        raise OSError(code, os.strerror(code), name)
