"""`bmnas export`: a valid genotype (with weights, if given) to ONNX, checked with ONNX
Runtime."""

from __future__ import annotations

import argparse
import errno
import os
from pathlib import Path

from bmnas_dsl.cli.common import (
    EXIT_INVALID,
    EXIT_OK,
    PROVIDERS,
    Subparsers,
    add_command,
    load_valid,
)


def add_parser(subparsers: Subparsers) -> None:
    export = add_command(
        subparsers,
        "export",
        "export to ONNX, checked with ONNX Runtime",
        "Compiles the genotype as `bmnas compile` does, loads --weights if given, and "
        "writes one self-contained ONNX file with a dynamic batch axis N (inputs "
        "named modality.feature, output logits). Before the file is written, ONNX "
        "Runtime runs it at batch sizes 1 and 3 and must agree with PyTorch "
        "(docs/compile.md); a failed export leaves no file and an existing one as "
        "it was.",
    )
    export.add_argument("file", metavar="FILE", help="the genotype (.bmg)")
    export.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="MODEL.onnx",
        help="the ONNX file to write (replaced only once the check passes)",
    )
    export.add_argument(
        "--weights",
        metavar="W",
        help="trained weights: RUN_DIR/weights.safetensors of `bmnas train FILE "
        "--data D -o RUN_DIR` (or RUN_DIR itself), that run's checkpoint.pt, or a "
        "state_dict saved with torch.save (read with weights_only=True: never "
        "unpickles code) (default: none, the initial weights of a fresh Model())",
    )
    export.add_argument(
        "--provider",
        choices=PROVIDERS,
        default="auto",
        help="ONNX Runtime execution provider of the check: cpu; cuda (an error "
        "unless CUDA really runs); auto: CUDA when it really runs, else the CPU "
        "(default: auto)",
    )
    export.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    # Heavy (torch, onnx): imported only when this command runs.
    from bmnas_dsl.backend.compile import load_module
    from bmnas_dsl.backend.export import export_model
    from bmnas_dsl.backend.weights import load_weights

    if Path(args.output).is_dir():  # said now, not after the export at its rename
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), args.output)
    result = load_valid(args.file)
    if result is None:
        return EXIT_INVALID
    _, module = load_module(result)
    model = module.Model()
    if args.weights:
        load_weights(model, args.weights)
    report = export_model(module, model, args.output, provider=args.provider)
    checks = ", ".join(f"batch {n}: {d:.1e}" for n, d in report.max_abs_diff.items())
    print(
        f"wrote {args.output} (checked with ONNX Runtime, {report.provider}: max |ORT - torch| {checks})"
    )
    return EXIT_OK
